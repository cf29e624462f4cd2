"""The Milvus store, run for real (Milvus Lite): the local store's answers, atomic builds, chats, outages.

Milvus Lite lets one process open a .db file at a time, so each test has its own file, and a
test that runs ``citebot`` in a subprocess first lets go of it (``milvus.disconnect``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.conversation import UNAVAILABLE, Conversation, ProblemReply
from embeddings import Embedder
from retrieval import Library, ModelMismatch, milvus
from retrieval import index as index_module
from retrieval.collections import Collections
from retrieval.corpus import bundled_corpus
from retrieval.index import CRASH_ENV, build_index
from retrieval.stores import (
    LOCAL,
    StoreError,
    StoreSpec,
    choose_store,
    parse_store,
    record_store,
    recorded_store,
)
from tests.conftest import BUNDLED_FILE, ROOT, citebot, cli_env, deadline, one_line_error

QUESTIONS = [
    "Who is the mayor of Sievierodonetsk?",
    "What does Russia call its war?",
    "Which provinces make up the Donbas?",
    "What did the Luhansk governor say?",
    "How many people lived in Sievierodonetsk before the war?",  # not in the article: declined
    "What did Zelenskyy say about the Russian army?",
]


@pytest.fixture(scope="module")
def on_milvus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Path]:
    """The bundled article indexed into Milvus Lite."""
    folder = tmp_path_factory.mktemp("milvus")
    build_index([bundled_corpus()], folder / "index", embedder, store=f"milvus:{folder / 'citebot.db'}")
    yield folder / "index"
    milvus.disconnect(recorded_store(folder / "index"))


def _corpus(tmp_path: Path, river: str = "The river flows past the city of Lysychansk.") -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    shutil.copy(BUNDLED_FILE, corpus)
    (corpus / "river.txt").write_text(f"# The river\n\n{river}\n")
    return corpus


def _bundled(tmp_path: Path, embedder: Embedder) -> Path:
    """The bundled article in a Milvus Lite file of the test's own."""
    build_index([bundled_corpus()], tmp_path / "index", embedder, store=f"milvus:{tmp_path / 'c.db'}")
    return tmp_path / "index"


def _collections(spec_uri: str) -> set[str]:
    spec = parse_store(f"milvus:{spec_uri}")
    return set(milvus.connection(spec).list_collections())


def test_answers_and_citations_match_the_local_store(
    on_milvus: Path, library: Library, query_embedder: Embedder
) -> None:
    served = Library(on_milvus, query_embedder)
    for question in QUESTIONS:
        local, remote = library.answer(question), served.answer(question)
        assert remote.answered == local.answered, question
        assert [(q.citation, q.text) for q in remote.quotes] == [(q.citation, q.text) for q in local.quotes]
        assert remote.confidence == pytest.approx(local.confidence, abs=0.02), question
    assert any(not library.answer(q).answered for q in QUESTIONS)  # the set holds a decline too
    assert served.sources() == library.sources() and served.examples() == library.examples()
    article = library.sources()[0].article_id
    assert served.paragraph(article, 7) == library.paragraph(article, 7)
    assert served.citation(article, 7) == library.citation(article, 7)
    assert served.paragraph(article, 99) is None and served.paragraph("no-such-article", 1) is None
    about = served.about()
    assert about.index_type == "Milvus FLAT" and "milvus" in about.extra["store"]


def test_the_cli_records_the_store_and_never_shows_the_token(tmp_path: Path) -> None:
    env = cli_env(CITEBOT_MILVUS_TOKEN="s3cret-t0ken", HF_HUB_OFFLINE="1")
    index, db = tmp_path / "index", tmp_path / "store" / "citebot.db"
    built = citebot("index", "--index", str(index), "--store", f"milvus:{db}", env=env)
    assert built.returncode == 0, built.stderr
    assert "Indexed 1 article" in built.stdout and str(db) in built.stdout
    record = json.loads((index / "store.json").read_text())
    assert record["kind"] == "milvus" and record["uri"] == str(db) and record["name"].startswith("citebot_")
    asked = citebot("ask", "--index", str(index), "--json", "Who is the mayor of Sievierodonetsk?", env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answered"] and answer["quotes"][0]["paragraph"] == 7
    again = citebot("index", "--index", str(index), env=env)  # the recorded store, no --store needed
    assert again.returncode == 0 and "Up to date" in again.stdout
    for text in (
        built.stdout,
        built.stderr,
        asked.stdout,
        asked.stderr,
        again.stdout,
        (index / "store.json").read_text(),
    ):
        assert "s3cret" not in text


def test_a_rebuild_embeds_only_what_changed_follows_the_swap_and_drops_old_builds(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(milvus, "POINTER_CHECK", 0.0)  # look for a new build at every question
    db, index = tmp_path / "c.db", tmp_path / "index"
    corpus = _corpus(tmp_path)
    first = build_index([corpus], index, embedder, store=f"milvus:{db}")
    assert (first.articles, first.added, first.reused) == (2, 2, 0) and first.embedded == first.passages
    served = Library(index, query_embedder)
    assert "flows past the city" in served.answer("Which river flows past Lysychansk?").quotes[0].text
    _corpus(tmp_path, "The Siverskyi Donets river separates Sievierodonetsk from Lysychansk.")
    second = build_index([corpus], index, embedder)
    assert (second.changed, second.added, second.embedded) == (1, 0, 1) and second.reused == first.passages - 1
    answer = served.answer("Which river separates Sievierodonetsk from Lysychansk?")  # the same Library object
    assert answer.answered and "Siverskyi Donets" in answer.quotes[0].text
    assert build_index([corpus], index, embedder).unchanged
    (corpus / "river.txt").unlink()
    third = build_index([corpus], index, embedder)
    assert third.removed_articles == 1 and third.embedded == 0
    builds = {n.rsplit("_", 1)[0] for n in _collections(str(db)) if n.endswith("_passages")}
    assert len(builds) == 2  # the serving build and the one before it (a question may still be on it)
    assert not served.answer("Which river separates Sievierodonetsk from Lysychansk?").answered


@pytest.mark.parametrize("stage", ["embedded", "milvus-passages", "milvus-written"])
def test_a_build_killed_midway_leaves_the_previous_one_answering(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder, stage: str
) -> None:
    db, index = tmp_path / "c.db", tmp_path / "index"
    corpus = _corpus(tmp_path)
    build_index([corpus], index, embedder, store=f"milvus:{db}")
    milvus.disconnect(recorded_store(index))  # the killed build below opens the file
    _corpus(tmp_path, "The Siverskyi Donets river separates Sievierodonetsk from Lysychansk.")
    killed = citebot("index", str(corpus), "--index", str(index), env=cli_env(**{CRASH_ENV: stage}))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    served = Library(index, query_embedder)
    assert "flows past the city" in served.answer("Which river flows past Lysychansk?").quotes[0].text
    build_index([corpus], index, embedder)
    builds = {n.rsplit("_", 1)[0] for n in _collections(str(db)) if n.endswith("_passages")}
    assert len(builds) == 2  # what the killed build left is gone
    answer = Library(index, query_embedder).answer("Which river separates Sievierodonetsk from Lysychansk?")
    assert "Siverskyi Donets" in answer.quotes[0].text


def test_a_chat_add_killed_midway_leaves_the_chat_as_it_was(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _bundled(tmp_path, embedder)
    shelf = Collections(Library(index, query_embedder))
    shelf.add_document(7, b"# Ferry\n\nThe ferry to Lindholm leaves at noon on Tuesdays.\n", ".md", "ferry")
    milvus.disconnect(recorded_store(index))
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from embeddings import QUERY_BACKEND, Embedder
        from retrieval import Library
        from retrieval.collections import Collections
        shelf = Collections(Library(Path({str(index)!r}), Embedder(backend=QUERY_BACKEND)))
        shelf.add_document(7, b"# Bakery\\n\\nThe bakery on Quay Street sells rye bread.\\n", ".md", "bakery")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=cli_env(**{CRASH_ENV: "milvus-passages"}), timeout=300
    )
    assert done.returncode == -signal.SIGKILL
    after = Collections(Library(index, query_embedder))
    assert [a.title for a in after.sources(7)] == ["Ferry"]
    assert not after.answer("Where can I buy rye bread?", 7).answered  # the dead add's rows are not searched
    monkeypatch.setattr("retrieval.milvus_chats.ORPHAN_AGE", -3600)  # as if an hour had passed
    assert after.add_document(7, b"# Bakery\n\nThe bakery on Quay Street sells rye bread.\n", ".md", "b").number == 2
    shelf_passages = milvus.connection(recorded_store(index)).query(
        after._shelf.names["passages"], filter="chat == 7", output_fields=["gen"]
    )
    assert len({row["gen"] for row in shelf_passages}) == 2  # the orphan gen was removed
    assert after.answer("Where can I buy rye bread?", 7).answered
    milvus.disconnect(recorded_store(index))


def test_an_unreachable_milvus_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = citebot("index", "--index", str(tmp_path / "index"), "--store", f"milvus://127.0.0.1:{port}")
    line = one_line_error(result)
    assert f"could not connect to Milvus at http://127.0.0.1:{port}" in line
    assert not (tmp_path / "index" / "store.json").exists()  # nothing recorded for a store never reached


@pytest.mark.parametrize(
    "value", ["milvus:citebot.txt", "milvus://host", "milvus://h:p", "ftp://x", "milvus:"]
)  # fmt: skip
def test_a_bad_store_is_refused(value: str) -> None:
    with pytest.raises(StoreError, match="--store"):
        parse_store(value)


def test_a_running_bot_survives_milvus_going_down(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    index = _bundled(tmp_path, embedder)
    conversation = Conversation(Library(index, query_embedder))
    assert conversation.ask("Who is the mayor of Sievierodonetsk?").answer.answered  # type: ignore[union-attr]
    _kill_milvus_lite(tmp_path / "c.db")
    time.sleep(milvus.POINTER_CHECK)
    with caplog.at_level(logging.WARNING), deadline(60):
        reply = conversation.ask("Who is the mayor of Sievierodonetsk?")
    assert isinstance(reply, ProblemReply) and reply.message == UNAVAILABLE
    warned = [r for r in caplog.records if r.getMessage() == "store unavailable"]
    assert warned and "could not search Milvus" in warned[0].reason  # type: ignore[attr-defined]
    assert not any(r.exc_info for r in caplog.records)  # one line each, no traceback
    milvus.disconnect(recorded_store(index))


def _kill_milvus_lite(db: Path) -> None:
    """SIGKILL this process's Milvus Lite engine serving ``db`` (other tests' engines live on)."""
    killed = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"milvus_lite" in command and str(db).encode() in command:
            os.kill(int(pid), signal.SIGKILL)
            killed += 1
    assert killed


def test_the_store_choice_is_kept_per_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITEBOT_STORE", raising=False)
    assert choose_store(tmp_path, None) == LOCAL  # nothing recorded, nothing asked
    first = choose_store(tmp_path, f"milvus:{tmp_path / 'a.db'}")
    record_store(tmp_path, first)
    assert recorded_store(tmp_path) == first and choose_store(tmp_path, None) == first
    assert choose_store(tmp_path, f"milvus:{tmp_path / 'a.db'}") == first  # same Milvus: same collections
    other = choose_store(tmp_path, "milvus://10.0.0.5:19530")
    assert other.uri == "http://10.0.0.5:19530" and other.name != first.name
    monkeypatch.setenv("CITEBOT_STORE", "local")
    assert choose_store(tmp_path, None) == LOCAL
    (tmp_path / "store.json").write_text('{"kind": "milvus", "uri": "/x.db", "name": "../../etc"}')
    with pytest.raises(StoreError, match="damaged"):
        recorded_store(tmp_path)


def test_long_texts_fall_back_to_their_own_rows(
    tmp_path: Path, embedder: Embedder, library: Library, query_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passage's packed sentences or text that would not fit a field are read from elsewhere, unchanged."""
    monkeypatch.setattr(milvus, "FIELD_BYTES", 250)  # a packed sentence is ~1 KB; some paragraphs are longer
    monkeypatch.setattr(milvus, "PART_CHARS", 100)
    served = Library(_bundled(tmp_path, embedder), query_embedder)
    rows = served.index.store.rows(list(range(15)))
    assert not any(r["sentences"] for r in rows.values()) and not all(r["whole"] for r in rows.values())
    for question in QUESTIONS:
        local, remote = library.answer(question), served.answer(question)
        assert [(q.citation, q.text) for q in remote.quotes] == [(q.citation, q.text) for q in local.quotes]
    article = library.sources()[0].article_id
    assert all(served.paragraph(article, n) == library.paragraph(article, n) for n in range(1, 16))
    milvus.disconnect(recorded_store(tmp_path / "index"))


def test_a_missing_collection_or_another_model_is_one_clear_error(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder
) -> None:
    index = _bundled(tmp_path, embedder)
    spec = recorded_store(index)
    client = milvus.connection(spec)
    generation, manifest = milvus.Pointer(client, spec).newest()  # type: ignore[misc]
    milvus.Pointer(client, spec).swap(generation + 1, {**manifest, "model": "other-model", "model_id": "other"})
    with pytest.raises(ModelMismatch, match="built with model other-model"):
        Library(index, query_embedder)
    milvus.Pointer(client, spec).swap(generation + 2, manifest)
    client.drop_collection(manifest["collections"]["records"])
    with pytest.raises(StoreError, match=r"lacks the collection \w+_records: run `citebot index` again"):
        Library(index, query_embedder)
    milvus.disconnect(spec)


def test_a_lite_file_open_elsewhere_is_one_line(tmp_path: Path, embedder: Embedder) -> None:
    index = _bundled(tmp_path, embedder)  # this process holds the file
    line = one_line_error(citebot("ask", "--index", str(index), "Who is the mayor of Sievierodonetsk?"))
    assert "is open in another process (Milvus Lite allows one at a time" in line
    milvus.disconnect(recorded_store(index))


# --- the build lease: one build at a time into a collection prefix, across machines -------------------


def _lease_row(client: object, spec: StoreSpec, owner: str, *, host: str, pid: int, until: int) -> str:
    """Another machine's lease row in ``<prefix>_lease`` (the collection made as citebot makes it)."""
    from pymilvus import DataType

    name = f"{spec.name}_lease"
    if not client.has_collection(name):  # type: ignore[attr-defined]
        schema = client.create_schema(auto_id=False)  # type: ignore[attr-defined]
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=80)
        schema.add_field("owner", DataType.VARCHAR, max_length=64)
        schema.add_field("host", DataType.VARCHAR, max_length=256)
        schema.add_field("pid", DataType.INT64)
        schema.add_field("seat", DataType.VARCHAR, max_length=128)
        schema.add_field("until", DataType.INT64)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        index = client.prepare_index_params()  # type: ignore[attr-defined]
        index.add_index("v", index_type="FLAT", metric_type="IP")
        client.create_collection(name, schema=schema, index_params=index)  # type: ignore[attr-defined]
    row = {"id": f"{owner}-1", "owner": owner, "host": host, "pid": pid, "seat": "elsewhere", "until": until}
    row["v"] = [1.0, 0.0]
    client.insert(name, [row])  # type: ignore[attr-defined]
    return name


def _lease_owners(client: object, name: str) -> list[str]:
    rows = client.query(name, filter="until > 0", output_fields=["owner"])  # type: ignore[attr-defined]
    return sorted(r["owner"] for r in rows)


def _busy(host: str, pid: int, until: int) -> str:
    return (
        f"another build into this Milvus store is running (host {host}, pid {pid}, "
        f"until {time.strftime('%H:%M:%S', time.gmtime(until))} UTC); try again when it ends"
    )


def _serving_intact(client: object, spec: StoreSpec) -> None:
    """Every collection the pointer names, for the serving build and the one before it, exists."""
    rows = client.query(spec.name, filter="gen >= 0", output_fields=["gen", "manifest"])  # type: ignore[attr-defined]
    present = set(client.list_collections())  # type: ignore[attr-defined]
    for row in sorted(rows, key=lambda r: r["gen"])[-2:]:
        assert set(json.loads(row["manifest"])["collections"].values()) <= present


def test_a_build_while_another_machine_holds_the_lease_is_refused_and_changes_nothing(
    on_milvus: Path, embedder: Embedder, query_embedder: Embedder
) -> None:
    spec = recorded_store(on_milvus)
    client = milvus.connection(spec)
    before, collections = milvus.Pointer(client, spec).newest(), set(client.list_collections())
    until = int(time.time()) + 600
    lease = _lease_row(client, spec, "elsewhere", host="build-host-2", pid=4242, until=until)
    try:
        with pytest.raises(StoreError) as refused:
            build_index([bundled_corpus()], on_milvus, embedder)
        assert _lease_owners(client, lease) == ["elsewhere"]  # the refused build's own row is gone
    finally:
        client.delete(lease, filter='owner == "elsewhere"')
    assert str(refused.value) == _busy("build-host-2", 4242, until)
    assert milvus.Pointer(client, spec).newest() == before
    assert set(client.list_collections()) == collections | {lease}
    assert Library(on_milvus, query_embedder).answer(QUESTIONS[0]).answered


def test_an_expired_lease_does_not_block_a_build(on_milvus: Path, embedder: Embedder) -> None:
    spec = recorded_store(on_milvus)
    client = milvus.connection(spec)
    lease = _lease_row(client, spec, "crashed", host="build-host-3", pid=7, until=int(time.time()) - 1)
    try:
        assert build_index([bundled_corpus()], on_milvus, embedder).unchanged
        assert _lease_owners(client, lease) == ["crashed"]  # the build released its own row
    finally:
        client.delete(lease, filter='owner == "crashed"')


def test_a_second_build_from_a_copied_folder_cannot_drop_the_running_builds_collections(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outage once seen: two builds into one prefix, each clean-up dropping the other's collections."""
    index = _bundled(tmp_path, embedder)
    spec = recorded_store(index)
    client = milvus.connection(spec)
    twin = tmp_path / "twin"  # the index folder copied to another machine: another local lock, the same prefix
    shutil.copytree(index, twin)
    (tmp_path / "elsewhere").mkdir()
    twin_corpus = _corpus(tmp_path / "elsewhere", "The Siverskyi Donets river separates the two cities.")
    refusals: list[str] = []
    checkpoint = index_module._checkpoint

    def meanwhile(stage: str) -> None:
        checkpoint(stage)
        if stage == "milvus-written" and not refusals:  # this build's collections are written, not yet serving
            refusals.append("")
            try:
                build_index([twin_corpus], twin, embedder)
            except StoreError as exc:
                refusals[0] = str(exc)

    monkeypatch.setattr(index_module, "_checkpoint", meanwhile)
    assert not build_index([_corpus(tmp_path)], index, embedder).unchanged
    assert refusals[0].startswith(f"another build into this Milvus store is running (host {socket.gethostname()}, "
                                  f"pid {os.getpid()}, until ")  # fmt: skip
    _serving_intact(client, spec)
    served = Library(index, query_embedder)
    assert "flows past the city" in served.answer("Which river flows past Lysychansk?").quotes[0].text
    assert _lease_owners(client, f"{spec.name}_lease") == []
    milvus.disconnect(spec)


def test_a_build_that_lost_its_lease_midway_swaps_nothing_and_drops_only_its_own_collections(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _bundled(tmp_path, embedder)
    spec = recorded_store(index)
    client = milvus.connection(spec)
    before, collections = milvus.Pointer(client, spec).newest(), set(client.list_collections())
    ahead = [0.0]
    monkeypatch.setattr(milvus, "_clock", lambda: time.time() + ahead[0], raising=False)
    until = int(time.time()) + 3 * 3600

    def stalled(stage: str) -> None:
        if stage == "milvus-written":  # the build stalls past its lease, and another machine's build takes it
            ahead[0] = 3600.0
            _lease_row(client, spec, "taker", host="build-host-4", pid=99, until=until)

    monkeypatch.setattr(index_module, "_checkpoint", stalled)
    with pytest.raises(StoreError, match="lease") as lost:
        build_index([_corpus(tmp_path)], index, embedder)
    assert "build-host-4" in str(lost.value)
    assert milvus.Pointer(client, spec).newest() == before  # not swapped
    assert set(client.list_collections()) == collections | {f"{spec.name}_lease"}  # its own new ones dropped
    _serving_intact(client, spec)
    assert _lease_owners(client, f"{spec.name}_lease") == ["taker"]
    assert Library(index, query_embedder).answer(QUESTIONS[0]).answered
    milvus.disconnect(spec)


# --- a damaged Milvus Lite file; credentials in an address ----------------------------------------------


@pytest.mark.parametrize("damage", ["zeroed", "truncated", "random"])
def test_a_damaged_lite_file_is_called_damaged_not_busy(on_milvus: Path, tmp_path: Path, damage: str) -> None:
    good = Path(recorded_store(on_milvus).uri).read_bytes()
    bad = {"zeroed": bytes(len(good)), "truncated": good[: len(good) // 2], "random": os.urandom(len(good))}[damage]
    db = tmp_path / "damaged.db"
    db.write_bytes(bad)
    index = tmp_path / "index"
    shutil.copytree(on_milvus, index)
    record_store(index, StoreSpec("milvus", str(db), recorded_store(on_milvus).name))
    line = one_line_error(citebot("ask", "--index", str(index), "Who is the mayor of Sievierodonetsk?"))
    assert line == (
        f"citebot: {db} is not a Milvus Lite database, or it is damaged: "
        f"move it away and run `citebot index --store milvus:{db}` again"
    )
    assert db.read_bytes() == bad  # left as it was, for the owner to look at


SECRET = "hunter2pw"


@pytest.mark.parametrize(
    "value",
    [
        f"https://admin:{SECRET}@milvus.internal:19530",
        f"milvus://admin:{SECRET}@milvus.internal:19530",
        f"http://{SECRET}@milvus.internal:19530",
        f"https://milvus.internal:19530?token={SECRET}",
        f"https://milvus.internal:19530/#{SECRET}",
        f"ftp://admin:{SECRET}@milvus.internal",
    ],
)
def test_credentials_in_a_milvus_address_are_refused_without_echoing_them(value: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError) as refused:
        parse_store(value)
    assert SECRET not in str(refused.value) and "$CITEBOT_MILVUS_TOKEN" in str(refused.value)
    with pytest.raises(StoreError):
        choose_store(tmp_path, value)
    assert not (tmp_path / "store.json").exists()


def test_the_cli_neither_records_nor_shows_credentials_in_an_address(tmp_path: Path) -> None:
    index = tmp_path / "index"
    line = one_line_error(citebot("index", "--index", str(index), "--store", f"milvus://me:{SECRET}@127.0.0.1:9"))
    assert SECRET not in line and "CITEBOT_MILVUS_TOKEN" in line
    assert not (index / "store.json").exists()
    spec = StoreSpec("milvus", f"https://me:{SECRET}@127.0.0.1:9", "citebot_0123456789ab")
    with pytest.raises(StoreError):
        record_store(tmp_path, spec)  # never written, whoever asks
    assert not (tmp_path / "store.json").exists()


def test_an_address_recorded_with_credentials_is_never_shown_with_them(tmp_path: Path) -> None:
    """A store.json written by an older citebot, which took credentials in the address."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://me:{SECRET}@127.0.0.1:{port}"
    (tmp_path / "store.json").write_text(json.dumps({"kind": "milvus", "uri": uri, "name": "citebot_0123456789ab"}))
    spec = recorded_store(tmp_path)
    assert spec.label() == f"milvus http://127.0.0.1:{port} (citebot_0123456789ab)"
    with pytest.raises(StoreError) as failed:
        milvus.connection(spec).list_collections()
    assert SECRET not in str(failed.value) and f"127.0.0.1:{port}" in str(failed.value)


def test_a_lease_is_renewed_while_held_and_given_up_once_it_ran_out(
    on_milvus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = recorded_store(on_milvus)
    client = milvus.connection(spec)
    ahead = [0.0]
    monkeypatch.setattr(milvus, "_clock", lambda: time.time() + ahead[0])
    monkeypatch.setattr(milvus, "LEASE_LOOK", 3600.0)  # no background renewal: this test renews by hand
    lease = milvus.Lease(client, spec)
    lease.take()
    try:
        first = lease.until
        ahead[0] = milvus.LEASE_SECONDS * 0.6  # more than half used, still inside the margin
        lease.renew()
        assert lease.until > first and lease.held()
        lease.check()
        rows = client.query(lease.name, filter="until > 0", output_fields=["owner", "until"])
        assert [(r["owner"], r["until"]) for r in rows] == [(lease.owner, lease.until)]  # the old row is gone
        ahead[0] += milvus.LEASE_SECONDS - milvus.LEASE_MARGIN / 2  # stalled into the margin: not renewed
        lease.renew()
        assert not lease.held()
        with pytest.raises(StoreError, match=r"lost its lease on the Milvus store \(it ran out\)"):
            lease.check()
    finally:
        lease.release()
    assert _lease_owners(client, lease.name) == []
