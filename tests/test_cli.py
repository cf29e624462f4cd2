"""The command line as a user runs it: a real subprocess, real model, real index."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from embeddings import default_model
from tests.conftest import ROOT, SAMPLE, citebot, cli_env, one_line_error

SCHEMA_KEYS = {"question", "answered", "confidence", "quotes", "closest"}


def test_help_is_fast_to_import() -> None:
    result = citebot("--help")
    assert result.returncode == 0 and "index" in result.stdout and "ask" in result.stdout
    # --help must not drag in the heavy libraries
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bot.cli import cli; print(sorted(m for m in ('torch', 'faiss', "
            "'sentence_transformers', 'numpy') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert probe.stdout.strip() == "[]"


def test_ask_json_on_bundled_index(bundled_index: Path) -> None:
    result = citebot("ask", "Who is the mayor of Sievierodonetsk?", "--json", "--index", str(bundled_index))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == SCHEMA_KEYS and data["answered"]
    assert "Stryuk" in data["quotes"][0]["text"]


def test_ask_stdin_streams_one_line_per_question_in_order(bundled_index: Path) -> None:
    """Drive it question by question: each answer must arrive before the next question is sent."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "ask", "-", "--json", "--index", str(bundled_index)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=cli_env(),
    )
    questions = ["Who had the numerical advantage?", "", "How do I cook borscht?", "x" * 5000]
    try:
        replies = []
        for question in questions:
            proc.stdin.write(question + "\n")
            proc.stdin.flush()
            replies.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()
        assert proc.stdout.read() == ""
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert [r["question"] for r in replies] == questions
    assert replies[0]["answered"] and not replies[2]["answered"]
    assert "empty" in replies[1]["error"] and "too long" in replies[3]["error"]


def test_long_questions_get_an_answer_and_never_end_a_batch(bundled_index: Path) -> None:
    """Questions past the reranker's 64-token window (about 60 English words, or 150 characters of
    Turkish) raised a truncation error that ended ``ask -`` at that line."""
    long_english = " ".join(["why did the mayor say that street fighting was raging and nobody withdrew"] * 5) + "?"
    turkish = (
        "Sievierodonetsk belediye başkanı Oleksandr Stryuk sokak çatışmalarının şiddetlendiğini ve hiçbir "
        "tarafın geri çekilmeye hazırlanmadığını söyledi mi, neden böyle?"
    )
    questions = ["Who is the mayor of Sievierodonetsk?", long_english, turkish, "Who had the numerical advantage?"]
    result = citebot("ask", "-", "--json", "--index", str(bundled_index), input="\n".join(questions) + "\n")
    assert result.returncode == 0, result.stderr
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in replies] == questions
    assert all("error" not in r and isinstance(r["answered"], bool) for r in replies), replies
    assert replies[0]["answered"] and replies[3]["answered"]


def test_chat_without_a_terminal_answers_each_line(bundled_index: Path) -> None:
    result = citebot(
        "chat",
        "--index",
        str(bundled_index),
        input="/help\nWho had the numerical advantage?\n/sources\n/about\n/nonsense\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Sievierodonetsk (2022-06-07), 15 paragraphs" in out
    assert "Russian forces had the numerical advantage" in out and "paragraph 2" in out
    assert f"model {default_model()}" in out
    assert "I don't know the command /nonsense" in out


def test_index_summary_and_no_change_rebuild(tmp_path: Path) -> None:
    articles = tmp_path / "a.jsonl"
    articles.write_text(json.dumps({"id": "x", "title": "X", "paragraphs": ["Cats sleep a lot.", "Dogs bark."]}) + "\n")
    index_dir = tmp_path / "index"
    first = citebot("index", str(articles), "--index", str(index_dir))
    assert first.returncode == 0, first.stderr
    assert "1 added" in first.stdout and "embedded 2, reused 0" in first.stdout
    second = citebot("index", str(articles), "--index", str(index_dir))
    assert "Up to date" in second.stdout and "nothing embedded" in second.stdout


def test_first_use_builds_the_bundled_index_in_the_default_location(tmp_path: Path) -> None:
    env = cli_env(XDG_DATA_HOME=str(tmp_path / "data"))
    result = citebot("ask", "Who is the mayor of Sievierodonetsk?", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answered"]
    assert (tmp_path / "data" / "citebot" / "index" / "current").is_symlink()


@pytest.mark.parametrize("question", ["", "   ", "x" * 100_000, "?!?!", "🙂🎉"])
def test_bad_question_is_one_line_and_nonzero(bundled_index: Path, question: str) -> None:
    line = one_line_error(citebot("ask", question, "--index", str(bundled_index)))
    assert line.startswith("citebot: ")


def test_missing_index_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(citebot("ask", "anything?", "--index", str(tmp_path / "none")))
    assert "no index at" in line and "citebot index" in line


def test_truncated_faiss_is_one_line(tmp_path: Path, bundled_index: Path) -> None:
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(bundled_index, copy, symlinks=True)
    faiss_file = next((copy / "builds").glob("*/passages.faiss"))
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    line = one_line_error(citebot("ask", "Who?", "--index", str(copy)))
    assert "passages.faiss" in line


def test_other_model_is_one_line(bundled_index: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "not-a-model"
    model_dir.mkdir()
    line = one_line_error(citebot("ask", "Who?", "--index", str(bundled_index), "--model", str(model_dir)))
    assert "model" in line


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: (d / "empty").mkdir(), "no articles found"),
        (lambda d: (d / "bin.txt").write_bytes(b"\0\1\2"), "no articles found"),
        (lambda d: (d / "bad.jsonl").write_text("{nope\n"), "no articles found"),
    ],
)
def test_unusable_corpus_is_one_line_and_keeps_the_index(tmp_path: Path, setup, expected: str) -> None:
    setup(tmp_path)
    target = next(p for p in tmp_path.iterdir())
    result = citebot("index", str(target), "--index", str(tmp_path / "index"), "-q")
    assert expected in one_line_error(result)


def test_bad_files_warn_but_the_rest_is_indexed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Penguins live in the southern hemisphere.")
    (corpus / "bin.txt").write_bytes(b"\0\1\2")
    (corpus / "bad.jsonl").write_text("{nope\n")
    result = citebot("index", str(corpus), "--index", str(tmp_path / "index"))
    assert result.returncode == 0
    assert "Indexed 1 article (" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "Traceback" not in result.stderr


def test_eval_prints_the_table_and_writes_predictions(tmp_path: Path) -> None:
    articles = tmp_path / "articles.jsonl"
    lines = (SAMPLE / "articles.jsonl").read_text().splitlines()[:2]
    articles.write_text("\n".join(lines) + "\n")
    ids = {json.loads(line)["id"] for line in lines}
    questions = tmp_path / "questions.jsonl"
    kept = [q for q in (SAMPLE / "questions.jsonl").read_text().splitlines() if json.loads(q)["article_id"] in ids]
    questions.write_text("\n".join(kept[:150]) + "\n")
    index_dir = tmp_path / "index"
    assert citebot("index", str(articles), "--index", str(index_dir), "-q").returncode == 0
    out = tmp_path / "pred.jsonl"
    result = citebot("eval", str(questions), "--index", str(index_dir), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["mode"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"dense", "lexical", "fused"}
    assert rows["fused"]["answerable"] == 150 and rows["fused"]["unanswerable"] == 0
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(preds) == 150
    recall = sum(p["rank"] == 1 for p in preds) / len(preds)
    assert recall == pytest.approx(rows["fused"]["recall_at_1"])
    # far above chance (1 in 152 paragraphs; Super Bowl 50's paragraphs are near-duplicates)
    assert recall > 0.4 and rows["fused"]["recall_at_5"] > 0.75


def test_eval_reads_answer_sentence_labels_and_reports_answer_triggering(tmp_path: Path) -> None:
    """WikiQA's format: every answering sentence labelled, an empty list for a question the text does not answer."""
    owls = "Barn owls hunt at night. They swallow voles whole. Their hearing finds prey under snow."
    bees = "Honey bees dance to show where flowers are. A hive can hold fifty thousand bees."
    articles = tmp_path / "articles.jsonl"
    articles.write_text(
        json.dumps({"id": "owls", "title": "Owls", "paragraphs": [owls]})
        + "\n"
        + json.dumps({"id": "bees", "title": "Bees", "paragraphs": [bees]})
        + "\n"
    )
    rows = [
        ("q1", "owls", "how do owls find food under snow", ["Their hearing finds prey under snow."]),
        ("q2", "bees", "how many bees live in one hive", ["A hive can hold fifty thousand bees."]),
        ("q3", "owls", "how long do barn owls live", []),
    ]
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"id": i, "article_id": a, "question": q, "answer_sentences": s}) + "\n" for i, a, q, s in rows
        )
    )
    index_dir = tmp_path / "index"
    assert citebot("index", str(articles), "--index", str(index_dir), "-q").returncode == 0
    out = tmp_path / "pred.jsonl"
    result = citebot("eval", str(questions), "--index", str(index_dir), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    fused = {r["mode"]: r for r in json.loads(result.stdout)}["fused"]
    assert (fused["answerable"], fused["unanswerable"]) == (2, 1)
    assert set(fused) >= {"first_quote_right", "answered", "declined", "precision", "recall", "f1"}
    preds = {p["id"]: p for p in map(json.loads, out.read_text().splitlines())}
    assert fused["first_quote_right"] == sum(preds[i]["first_quote_right"] for i in ("q1", "q2")) / 2
    assert preds["q1"]["first_quote_right"], preds["q1"]  # the labelled sentence, not its neighbours
    assert preds["q3"]["answerable"] is False and fused["declined"] in (0.0, 1.0)


CONTROLS = ("\x1b", "\x07", "\x9b", "\x08")


def test_control_characters_in_files_and_articles_are_never_printed_raw(tmp_path: Path) -> None:
    """File names and article text once sent terminal commands (retitle, recolour, clear) to stdout/stderr."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "owls\x1b]0;pwned\x07.md").write_text(
        "# Night \x1b[31mowls\x9b1m\n\nThe owls of \x1b]0;retitled\x07Patagonia hunt voles\x08 at night.\n"
    )
    (corpus / "dump\x1b[5m.txt").write_bytes(b"binary\0data")  # skipped, with its name in a warning
    built = citebot("index", str(corpus), "--index", str(index))
    asked = citebot("ask", "What do the owls of Patagonia hunt?", "--index", str(index))
    as_json = citebot("ask", "What do the owls of Patagonia hunt?", "--json", "--index", str(index))
    chatted = citebot("chat", "--index", str(index), input="/sources\nWhat do the owls of Patagonia hunt?\n")
    for result in (built, asked, as_json, chatted):
        assert result.returncode == 0, result.stderr
        assert not [c for c in CONTROLS if c in result.stdout + result.stderr], result
    assert "warning:" in built.stderr and "dump\\x1b[5m.txt" in built.stderr
    assert "Patagonia hunt voles\\x08 at night" in asked.stdout  # quoted text: exact, escaped when printed
    assert "Night [31mowls 1m" in asked.stdout  # titles lose control characters altogether
    quote = json.loads(as_json.stdout)["quotes"][0]
    assert quote["text"] == "The owls of \x1b]0;retitled\x07Patagonia hunt voles\x08 at night."  # JSON keeps the text
    assert "Night [31mowls" in chatted.stdout


def test_log_lines_escape_control_characters() -> None:
    from bot.logs import LogfmtFormatter

    record = logging.LogRecord("citebot", logging.WARNING, __file__, 1, "file \x1b[2J%s", ("a\x9bb",), None)
    record.path = "x\x07y"
    line = LogfmtFormatter().format(record)
    assert not [c for c in CONTROLS if c in line]
    assert "\\x1b[2J" in line and "\\x9b" in line and "x\\x07y" in line


@pytest.mark.parametrize(
    "bad",
    [
        '{"id": 1, "article_id": "a", "question": "q?", "paragraph_index": 1e999, "answers": ["x"]}',
        "[" * 100_000 + "]" * 100_000,
        '{"id": 1, "article_id": "a", "question": "q?", "paragraph_index": ' + "9" * 5000 + ', "answers": ["x"]}',
        '"just a string"',
    ],
    ids=["overflow", "deep", "huge-int", "not-an-object"],
)
def test_eval_names_the_line_it_cannot_read(tmp_path: Path, bad: str) -> None:
    """Such lines said "unexpected error", without saying where."""
    from retrieval.errors import CorpusError
    from retrieval.evaluate import read_questions

    good = '{"id": 1, "article_id": "a", "question": "q?", "paragraph_index": 0, "answers": ["x"]}'
    path = tmp_path / "questions.jsonl"
    path.write_text(f"{good}\n\n{bad}\n")
    with pytest.raises(CorpusError, match=rf"{path.name}:3: not a question record"):
        read_questions(path)


def test_about_names_the_model_its_folder_and_the_corpus_languages(bundled_index: Path) -> None:
    result = citebot("about", "--index", str(bundled_index), "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert Path(facts["model_path"]).is_dir() and len(facts["model_sha256"]) == 64
    assert facts["question_backend"] == "onnx-int8" and facts["languages"] == {"en": 1}
    assert (facts["articles"], facts["passages"]) == (1, 15) and facts["sentences"] >= 15
    assert one_line_error(citebot("about", "--index", str(bundled_index.parent / "nothing-here"))).startswith(
        "citebot: no index at"
    )
