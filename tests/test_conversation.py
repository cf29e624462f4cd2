"""The conversation every front end shares: commands, and failures that stay private."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bot.conversation import UNAVAILABLE, AnswerReply, Conversation, HelpReply, ProblemReply, SourcesReply
from embeddings import Embedder
from retrieval import Library


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
    reply = conversation.reply("Who is the mayor of Sievierodonetsk?")
    assert isinstance(reply, ProblemReply) and reply.message == UNAVAILABLE
    assert str(tmp_path) not in reply.message and "Traceback" not in reply.message
