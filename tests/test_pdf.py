"""PDF reading on real PDFs generated at test time: exact paragraphs, pages, metadata, and hostile files."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

import retrieval.pdf as pdf
from retrieval.pdf import NEEDS_PASSWORD, NO_TEXT_LAYER, read_pdf
from retrieval.records import Article
from tests import pdf_fixtures as fixtures


def read(data: bytes, fallback_title: str = "From the file name") -> Article | str:
    return read_pdf(data, article_id="doc-1", fallback_title=fallback_title)


def article(data: bytes, fallback_title: str = "From the file name") -> Article:
    found = read(data, fallback_title)
    assert isinstance(found, Article), found
    return found


@pytest.fixture(scope="module")
def three_pages() -> bytes:
    return fixtures.article_pdf()


def test_paragraphs_pages_and_metadata(three_pages: bytes) -> None:
    found = article(three_pages)
    assert found.paragraphs == fixtures.EXPECTED_PARAGRAPHS
    assert found.pages == fixtures.EXPECTED_PAGES
    assert (found.article_id, found.title, found.author, found.date) == (
        "doc-1",
        fixtures.TITLE,
        fixtures.AUTHOR,
        "2022-06-07",
    )


def test_line_end_hyphens_undone_only_where_they_split_a_word(three_pages: bytes) -> None:
    text = " ".join(article(three_pages).paragraphs)
    for word in ("international", "reconstruction", "comment"):
        assert f" {word} " in text
    for kept in ("Kremlin-backed", "street-by-street", "well-known"):
        assert kept in text
    assert "-" not in text.replace("Kremlin-backed", "").replace("street-by-street", "").replace("well-known", "")


@pytest.mark.parametrize(
    ("lines", "joined"),
    [
        (["a street-by-", "street plan"], "a street-by-street plan"),
        (["the COVID-", "19 wards and 3-", "4 hours"], "the COVID-19 wards and 3-4 hours"),
        (["the war -", "and after"], "the war - and after"),
        (["co-", "operation"], "cooperation"),
        (["long-", "term plans"], "longterm plans"),  # the documented price of the rule
        (["a self-reliant town, self-", "reliant again"], "a self-reliant town, self-reliant again"),
        (["cooperation and co-", "operation"], "cooperation and cooperation"),
    ],
)
def test_line_joining_rules(lines: list[str], joined: str) -> None:
    assert article(fixtures.lines_pdf(lines)).paragraphs == (joined,)


def test_page_numbers_are_not_paragraphs(three_pages: bytes) -> None:
    paragraphs = article(three_pages).paragraphs
    assert not [p for p in paragraphs if p.isdigit() or p.startswith("Page ")]
    assert not any("Page 1 of 3" in p or p.endswith(" 1") for p in paragraphs)


def test_sentence_running_on_to_the_next_page_is_one_paragraph_on_its_first_page(three_pages: bytes) -> None:
    found = article(three_pages)
    number = next(i for i, p in enumerate(found.paragraphs) if p.startswith("Engineers"))
    assert found.paragraphs[number].endswith("before residents can return to their homes in the northern districts.")
    assert found.pages is not None and found.pages[number] == 1


def test_small_gaps_and_first_line_indents_start_paragraphs() -> None:
    assert article(fixtures.tight_pdf()).paragraphs == fixtures.TIGHT_EXPECTED


def test_columns_are_read_one_after_the_other() -> None:
    expected = tuple(" ".join(lines) for column in fixtures.COLUMNS for lines in column)
    assert article(fixtures.two_column_pdf()).paragraphs == expected


def test_page_without_text_has_no_text_layer() -> None:
    assert read(fixtures.textless_pdf()) == NO_TEXT_LAYER


@pytest.mark.parametrize(
    "title",
    ["Microsoft Word - report.docx", "", "   ", "Untitled", "scan_0042.pdf"],
)
def test_meaningless_metadata_title_falls_back(title: str) -> None:
    assert article(fixtures.article_pdf(title=title), fallback_title="Report").title == "Report"


def test_missing_metadata_is_none() -> None:
    found = article(fixtures.one_page_pdf(b"<< /Author (  ) /CreationDate (D:20221399) >>"))
    assert (found.title, found.author, found.date) == ("From the file name", None, None)
    assert found.paragraphs == ("A single line of text.",) and found.pages == (1,)


def test_utf16_title_is_decoded() -> None:
    found = article(fixtures.one_page_pdf(b"<< /Title <FEFF004B0079006900760020004E006F00740065> >>"))
    assert found.title == "Kyiv Note"


def test_encrypted_with_empty_password_opens() -> None:
    assert article(fixtures.encrypted_pdf("")).paragraphs == ("Locked text that only an empty password opens.",)


def test_encrypted_with_a_password_is_skipped() -> None:
    assert read(fixtures.encrypted_pdf("secret")) == NEEDS_PASSWORD


@pytest.mark.parametrize(
    "make",
    [
        lambda: b"",
        lambda: b"\x00\xff garbage " * 500,
        lambda: b"%PDF-1.7\n" + b"garbage " * 500,
        lambda: (data := fixtures.article_pdf())[: len(data) // 2],
        fixtures.deep_tree_pdf,
    ],
    ids=["empty", "garbage", "garbage-after-header", "truncated-half", "deep-page-tree"],
)
def test_broken_input_gives_a_reason(make: Callable[[], bytes]) -> None:
    reason = read(make())
    assert isinstance(reason, str) and reason.startswith("not a readable PDF (") and "\n" not in reason


def test_absurd_page_count_reads_the_real_page() -> None:
    assert article(fixtures.absurd_count_pdf()).paragraphs == ("Only one page is real.",)


def test_endless_loop_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "MAX_SECONDS", 0.3)
    started = time.monotonic()
    reason = read(fixtures.self_referencing_pdf())
    assert reason == "not a readable PDF (still reading after 0.3 s)"
    assert time.monotonic() - started < 3
    time.sleep(0.4)  # a late interrupt must not land here
    assert article(fixtures.one_page_pdf(b"<< >>")).paragraphs == ("A single line of text.",)


def test_a_decompression_bomb_is_refused_and_leaves_this_process_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """600 MB once inflated, read in a child capped at 400 MB: the reason comes back, this process never grows."""
    monkeypatch.setattr(pdf, "MEMORY_BYTES", 400 * 1024**2)
    bomb = fixtures.inflating_pdf(600)
    assert len(bomb) < 2 * 1024**2
    reason = read(bomb)
    assert isinstance(reason, str) and reason.startswith("not a readable PDF (") and "memory" in reason.lower()
    monkeypatch.setattr(pdf, "MEMORY_BYTES", 2 * 1024**3)
    assert article(fixtures.inflating_pdf(1)).paragraphs == ("Inflated.",)


def test_page_cap(monkeypatch: pytest.MonkeyPatch, three_pages: bytes) -> None:
    monkeypatch.setattr(pdf, "MAX_PAGES", 2)
    found = article(three_pages)
    assert found.paragraphs == fixtures.EXPECTED_PARAGRAPHS[:5] and found.pages == (1, 1, 1, 2, 2)


def test_paragraph_and_character_caps(monkeypatch: pytest.MonkeyPatch, three_pages: bytes) -> None:
    monkeypatch.setattr(pdf, "MAX_PARAGRAPHS", 2)
    assert article(three_pages).paragraphs == fixtures.EXPECTED_PARAGRAPHS[:2]
    monkeypatch.setattr(pdf, "MAX_PARAGRAPHS", 20_000)
    budget = len(fixtures.EXPECTED_PARAGRAPHS[0]) + 20
    monkeypatch.setattr(pdf, "MAX_CHARS", budget)
    found = article(three_pages)
    assert found.paragraphs == (fixtures.EXPECTED_PARAGRAPHS[0], "Officials said the")
    assert found.pages == (1, 1)


def test_library_warnings_are_silenced(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    read(fixtures.missing_font_pdf())
    assert not [r for r in caplog.records if r.name.startswith("pdfminer")]
