"""Reading articles: formats, titles, datelines, numbering, and files that must be skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embeddings import Embedder
from retrieval import CorpusError
from retrieval.corpus import read_corpus
from retrieval.index import build_index
from tests.conftest import BUNDLED_FILE


def test_bundled_dateline_becomes_date_and_place_not_text() -> None:
    (article,) = read_corpus([BUNDLED_FILE]).articles
    raw_paragraphs = [p for p in BUNDLED_FILE.read_text().split("\n\n") if p.strip()]
    assert article.date == "2022-06-07"
    assert article.place == "KYIV"
    assert article.title == "Sievierodonetsk"
    assert article.article_id == "sievierodonetsk-2022-06-07"
    # the dateline is stripped from paragraph 1 without shifting the numbering
    assert len(article.paragraphs) == len(raw_paragraphs)
    assert article.paragraphs[0].startswith("Ukrainian and Russian troops fought")
    assert "date 2022" not in article.paragraphs[0]
    assert article.paragraphs[1] == raw_paragraphs[1].strip()


def test_markdown_heading_is_title_and_lines_are_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# A *real* title\n\nFirst line\nwrapped here.\n\n\n\nSecond   paragraph.\n")
    (article,) = read_corpus([path]).articles
    assert article.title == "A *real* title"
    assert article.paragraphs == ("First line wrapped here.", "Second paragraph.")
    assert article.date is None


def test_title_falls_back_to_file_name(tmp_path: Path) -> None:
    path = tmp_path / "city_council-report_2023-01-02.txt"
    path.write_text("Only paragraph.")
    (article,) = read_corpus([path]).articles
    assert article.title == "City council report"


def test_jsonl_both_shapes_and_optional_fields(tmp_path: Path) -> None:
    path = tmp_path / "news.jsonl"
    path.write_text(
        json.dumps({"id": "a1", "title": "One", "paragraphs": ["p1", "", "p3"], "date": "2020-01-01", "url": "u"})
        + "\n"
        + json.dumps({"id": 7, "title": "Two", "text": "x\n\ny", "source": "Wire"})
        + "\n"
    )
    corpus = read_corpus([path])
    one, two = corpus.articles
    assert one.paragraphs == ("p1", "", "p3")  # kept as given: entry N stays paragraph N
    assert (one.date, one.url) == ("2020-01-01", "u")
    assert two.article_id == "7" and two.paragraphs == ("x", "y") and two.source == "Wire"
    assert corpus.warnings == []


def test_bad_jsonl_lines_are_skipped_with_a_warning_each(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "ok", "title": "Fine", "text": "Some text."}\n'
        "this is not json\n"
        "[1, 2]\n"
        '{"id": "x"}\n'
        '{"id": "ok", "title": "Dup", "text": "again"}\n'
    )
    corpus = read_corpus([path])
    assert [a.article_id for a in corpus.articles] == ["ok"]
    assert len(corpus.warnings) == 4
    assert any("bad.jsonl:2: not valid JSON" in w for w in corpus.warnings)
    assert any("duplicate article id" in w for w in corpus.warnings)


def test_binary_and_non_utf8_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Good paragraph.")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "image.png").write_bytes(b"\0")  # not an article suffix: ignored silently
    corpus = read_corpus([tmp_path])
    assert [a.article_id for a in corpus.articles] == ["good"]
    assert sorted(w.split(":")[1].strip() for w in corpus.warnings) == [
        "binary file, skipped",
        "not UTF-8 text (byte 3), skipped",
    ]


def test_folders_are_read_recursively_with_relative_ids(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.md").write_text("Deep.")
    (tmp_path / "top.txt").write_text("Top.")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)  # a loop must not hang the walk
    ids = [a.article_id for a in read_corpus([tmp_path]).articles]
    assert ids == ["top", "a/b/deep"]  # a folder's own files first, then its subfolders, sorted


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus([tmp_path / "nope"])


def test_a_jsonl_line_with_a_lone_surrogate_is_skipped_not_fatal(tmp_path: Path, embedder: Embedder) -> None:
    """JSON can spell "\\ud800", which no UTF-8 file or database holds: it once aborted the whole build."""
    path = tmp_path / "articles.jsonl"
    lines = [
        '{"id": "good", "title": "Good", "paragraphs": ["Swifts sleep while flying."]}',
        '{"id": "bad", "title": "Bad", "paragraphs": ["broken \\ud800 text"]}',
        '{"id": "bad-title", "title": "\\udfff", "text": "fine text"}',
        '{"id": "also-good", "title": "Also good", "text": "Terns migrate from pole to pole."}',
    ]
    path.write_text("\n".join(lines) + "\n")
    corpus = read_corpus([path])
    assert [a.article_id for a in corpus.articles] == ["good", "also-good"]
    assert len([w for w in corpus.warnings if "surrogate" in w]) == 2
    report = build_index([path], tmp_path / "index", embedder)
    assert report.articles == 2
