"""Chat collections: documents added in one chat answer there only, survive restarts, and adds are atomic.

Each test runs with the chats' documents in the local store and in Milvus Lite (a library on Milvus
keeps them there, filtered by chat).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from embeddings import Embedder
from retrieval import Library, collections, milvus
from retrieval.collections import CollectionError, Collections
from retrieval.index import CRASH_ENV, build_index
from retrieval.stores import parse_store
from tests.conftest import BUNDLED_FILE, ROOT, cli_env

FERRY = textwrap.dedent(
    """\
    # Island ferry timetable

    The ferry to Lindholm leaves the harbour at noon every Tuesday and returns at six.

    A return ticket costs four euros; children under twelve travel free.
    """
).encode()
QUESTION = "When does the boat to Lindholm depart?"
A, B = 501, 502


def _shelf(tmp_path: Path, embedder: Embedder, query_embedder: Embedder, store: str) -> Collections:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(BUNDLED_FILE, corpus)
    build_index([corpus], tmp_path / "index", embedder, store=store)
    return Collections(Library(tmp_path / "index", query_embedder))


@pytest.fixture(params=["local", "milvus"])
def shelf(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder, query_embedder: Embedder
) -> Iterator[Collections]:
    """A library with the bundled article, its chats' documents in the local store or in Milvus Lite."""
    store = "local" if request.param == "local" else f"milvus:{tmp_path / 'milvus.db'}"
    yield _shelf(tmp_path, embedder, query_embedder, store)
    milvus.disconnect(parse_store(store))  # stops this test's Milvus Lite engine


@pytest.fixture()
def local_shelf(tmp_path: Path, embedder: Embedder, query_embedder: Embedder) -> Collections:
    return _shelf(tmp_path, embedder, query_embedder, "local")


def test_a_document_answers_only_in_its_chat(shelf: Collections) -> None:
    assert not shelf.answer(QUESTION, A).answered
    added = shelf.add_document(A, FERRY, ".md", "ferry")
    assert added.number == 1 and added.article.title == "Island ferry timetable" and added.article.paragraphs == 2
    answer = shelf.answer(QUESTION, A)
    assert answer.answered and "Lindholm leaves the harbour at noon" in answer.quotes[0].text
    assert answer.quotes[0].citation.title == "Island ferry timetable"
    assert not shelf.answer(QUESTION, B).answered  # another chat
    assert not shelf.answer(QUESTION).answered  # the terminal: the library only
    # the library still answers in the chat that has its own documents
    assert shelf.answer("Who is the mayor of Sievierodonetsk?", A).quotes[0].citation.title == "Sievierodonetsk"
    assert [a.title for a in shelf.sources(A)] == ["Island ferry timetable"] and shelf.sources(B) == []


def test_documents_survive_a_restart_and_a_library_rebuild(
    shelf: Collections, tmp_path: Path, embedder: Embedder, query_embedder: Embedder
) -> None:
    shelf.add_document(A, FERRY, ".md", "ferry")
    (tmp_path / "corpus" / "extra.txt").write_text("# Extra\n\nA second library article about apples.\n")
    build_index([tmp_path / "corpus"], tmp_path / "index", embedder)
    restarted = Collections(Library(tmp_path / "index", query_embedder))
    assert [a.title for a in restarted.sources(A)] == ["Island ferry timetable"]
    assert restarted.answer(QUESTION, A).answered


def test_remove_and_refusals(shelf: Collections, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collections, "MAX_PARAGRAPHS", 1)
    with pytest.raises(CollectionError, match=r"too long to add from a chat .* 2 paragraphs"):
        shelf.add_document(A, FERRY, ".md", "ferry")
    monkeypatch.undo()
    shelf.add_document(A, FERRY, ".md", "ferry")
    shelf.add_document(A, b"# Bakery\n\nThe bakery on Quay Street sells rye bread.\n", ".md", "bakery")
    with pytest.raises(CollectionError, match="already here, as number 1"):
        shelf.add_document(A, FERRY, ".md", "ferry-again")
    with pytest.raises(CollectionError, match="could not read"):
        shelf.add_document(A, b"%PDF-1.4 garbage", ".pdf", "broken")
    with pytest.raises(CollectionError, match="no document 3"):
        shelf.remove(A, 3)
    assert shelf.remove(A, 1).title == "Island ferry timetable"
    assert [a.title for a in shelf.sources(A)] == ["Bakery"]
    assert not shelf.answer(QUESTION, A).answered
    assert shelf.remove(A, 1).title == "Bakery"
    assert shelf.sources(A) == [] and not (shelf.root / str(A)).exists()
    with pytest.raises(CollectionError, match="no added documents"):
        shelf.remove(A, 1)


def test_size_is_capped_in_characters_per_document_and_per_chat(
    local_shelf: Collections, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few long paragraphs used to pass a paragraph count (208 KB in 50 paragraphs: 11 s to add); the
    refusal comes before any embedding, and says the limit."""
    shelf = local_shelf

    def no_embedding() -> None:
        raise AssertionError("a refused document must not be embedded")

    paragraph = "The ferry to Lindholm leaves the harbour at noon every Tuesday and returns at six. " * 70
    long_document = ("# Long\n\n" + "\n\n".join(f"{n}. {paragraph}" for n in range(50))).encode()
    with monkeypatch.context() as patch:
        patch.setattr(shelf, "_encoder", no_embedding)
        with pytest.raises(CollectionError, match=r"too long to add from a chat \(2\d\d,\d{3} characters in 50 "):
            shelf.add_document(A, long_document, ".md", "long")
    assert shelf.sources(A) == []
    bakery = "The bakery on Quay Street sells rye bread. " * 23  # 989 characters: alone, under the cap below
    monkeypatch.setattr(collections, "MAX_CHAT_CHARS", 1000)
    shelf.add_document(A, FERRY, ".md", "ferry")
    monkeypatch.setattr(shelf, "_encoder", no_embedding)
    with pytest.raises(CollectionError, match=r"would be over .* a chat may have: /remove one first"):
        shelf.add_document(A, f"# Bakery\n\n{bakery}\n".encode(), ".md", "bakery")
    assert [a.title for a in shelf.sources(A)] == ["Island ferry timetable"]


@pytest.mark.parametrize("stage", ["embedded", "written", "renamed"])
def test_a_killed_add_leaves_the_collection_as_it_was(local_shelf: Collections, tmp_path: Path, stage: str) -> None:
    shelf = local_shelf  # Milvus: test_milvus.py
    shelf.add_document(A, FERRY, ".md", "ferry")
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from embeddings import QUERY_BACKEND, Embedder
        from retrieval import Library
        from retrieval.collections import Collections
        shelf = Collections(Library(Path({str(tmp_path / "index")!r}), Embedder(backend=QUERY_BACKEND)))
        shelf.add_document({A}, b"# Bakery\\n\\nThe bakery on Quay Street sells rye bread.\\n", ".md", "bakery")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=cli_env(**{CRASH_ENV: stage}), timeout=300, check=False
    )
    assert done.returncode == -9  # killed at the stage
    after = Collections(Library(tmp_path / "index", shelf.library.embedder))
    assert [a.title for a in after.sources(A)] == ["Island ferry timetable"]
    assert after.answer(QUESTION, A).answered
    assert after.add_document(A, b"# Bakery\n\nThe bakery on Quay Street sells rye bread.\n", ".md", "b").number == 2


def test_two_adds_at_once_in_one_chat_are_both_kept(shelf: Collections) -> None:
    documents = [FERRY, b"# Bakery\n\nThe bakery on Quay Street sells rye bread.\n"]
    threads = [
        threading.Thread(target=shelf.add_document, args=(A, d, ".md", f"doc{n}")) for n, d in enumerate(documents)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(a.title for a in shelf.sources(A)) == ["Bakery", "Island ferry timetable"]
