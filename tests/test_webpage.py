"""Saved web pages: the article body only, the page's own metadata, and no crash or hang on hostile HTML."""

from __future__ import annotations

import datetime as dt
import gzip
import random
from pathlib import Path

import pytest

from retrieval import webpage
from retrieval.corpus import bundled_corpus, parse_text_article
from retrieval.records import Article
from retrieval.sandbox import SandboxFailed
from retrieval.webpage import MAX_ATTRIBUTES, MAX_ELEMENTS, MAX_HTML_BYTES, read_html
from tests.conftest import deadline

PAGES = Path(__file__).resolve().parent / "data" / "pages"
SAVED = PAGES / "sievierodonetsk-saved.html"
CANONICAL = "https://www.straitsdaily.example/world/europe/ukraine-street-battles-rage-in-sievierodonetsk-1234567"
FURNITURE = (
    "Advertisement",
    "Read more",
    "cookies",
    "Related stories",
    "Sign up",
    "Share",
    "©",
    "Reuters staff",
    "Skip to",
    "Subscribe",
    "comments",
    "Breadcrumb",
    "Home",
    "Morning Briefing",
    "EU weighs",
)


@pytest.fixture(scope="module")
def bundled_paragraphs() -> tuple[str, ...]:
    text = (bundled_corpus() / "sievierodonetsk-2022-06-07.txt").read_text(encoding="utf-8")
    return parse_text_article(text, article_id="x", fallback_title="x").paragraphs


def _read(data: bytes, **kwargs: str) -> Article | str:
    return read_html(data, article_id="page", fallback_title="Fallback title", **kwargs)


def _article(data: bytes, **kwargs: str) -> Article:
    article = _read(data, **kwargs)
    assert isinstance(article, Article), article
    return article


def _page(body: str, head: str = "", paragraphs: int = 4, doctype: str = "<!DOCTYPE html>") -> str:
    prose = "".join(
        f"<p>Paragraph {n} of the story: the river rose by several metres overnight and residents of the low-lying "
        f"districts were moved to schools on higher ground, officials said.</p>"
        for n in range(1, paragraphs + 1)
    )
    return f"{doctype}<html><head>{head}</head><body>{body.replace('PROSE', prose)}</body></html>"


def _saved_with(anchor: str, replacement: str) -> bytes:
    page = SAVED.read_text(encoding="utf-8")
    assert page.count(anchor) == 1, anchor
    return page.replace(anchor, replacement).encode("utf-8")


# -- the saved news page -----------------------------------------------------------------------------


def test_saved_page_gives_the_bundled_article_and_nothing_else(bundled_paragraphs: tuple[str, ...]) -> None:
    article = _article(SAVED.read_bytes())
    assert article.paragraphs == bundled_paragraphs
    assert len(article.paragraphs) == 15
    assert article.title == "Ukraine: street battles rage in Sievierodonetsk"
    assert article.date == "2022-06-07"  # published, not modified (2022-06-08), not the footer's 2024
    assert article.url == CANONICAL  # not og:url with its ?utm_source
    assert article.source == "The Straits Daily"
    assert article.author == "Reuters staff"
    assert article.article_id == "page"
    for paragraph in article.paragraphs:
        assert not any(word.lower() in paragraph.lower() for word in FURNITURE), paragraph


def test_canonical_link_wins_over_the_address_it_was_fetched_from() -> None:
    article = _article(SAVED.read_bytes(), url="https://mirror.example/copy.html")
    assert article.url == CANONICAL


def test_furniture_boxes_with_class_names_trafilatura_does_not_know_are_removed(
    bundled_paragraphs: tuple[str, ...],
) -> None:
    """trafilatura alone keeps all three boxes as paragraphs; the pre-cleaning drops them by class name."""
    boxes = (
        '<div class="inline-promo"><p>Subscribe to The Straits Daily for unlimited access to award-winning '
        "journalism from just $0.99 a month, and cancel at any time you like.</p></div>"
        '<div class="subscribeBox"><h4>Enjoying this story?</h4><p>Get the best of our journalism delivered to '
        "you each morning with our free email briefing for readers.</p></div>"
        '<div class="c-storyAlsoRead"><p>Kremlin says Western arms deliveries will only prolong the suffering of '
        "the Ukrainian people</p></div>"
    )
    anchor = "<p>Sievierodonetsk Mayor"
    article = _article(_saved_with(anchor, boxes + anchor))
    assert article.paragraphs == bundled_paragraphs


def test_story_wrapper_with_a_furniture_class_is_kept_but_boxes_inside_it_go(
    bundled_paragraphs: tuple[str, ...],
) -> None:
    page = _saved_with('<div class="article__body" itemprop="articleBody">', '<div class="body social-tools-on">')
    box = (
        '<div class="inline-promo"><p>Subscribe to The Straits Daily for unlimited access from $0.99 a month.</p></div>'
    )
    anchor = "<p>Sievierodonetsk Mayor"
    page = page.replace(anchor.encode(), (box + anchor).encode(), 1)
    assert _article(page).paragraphs == bundled_paragraphs


def test_furniture_lines_without_class_names_are_dropped(bundled_paragraphs: tuple[str, ...]) -> None:
    """trafilatura alone keeps these plain paragraphs; the post-filter drops labels, story links and the byline."""
    anchor = "<p>Sievierodonetsk Mayor"
    labels = (
        '<p>Read more: <a href="/x">EU weighs new sanctions as Russia tightens grip on Donbas</a></p>'
        "<p>Advertisement</p><p>Share this article</p>"
    )
    page = _saved_with(anchor, labels + anchor).decode("utf-8")
    page = page.replace("<p>Ukrainian and Russian", "<p>By Reuters staff, Kyiv</p><p>Ukrainian and Russian", 1)
    assert _article(page.encode("utf-8")).paragraphs == bundled_paragraphs


def test_paragraph_text_is_what_a_reader_sees() -> None:
    body = (
        "<article><h1>Floods</h1><p>  The   river\n\t rose <b>by</b> <a href='/x'>four&nbsp;metres</a>"
        " overnight, officials said on Monday.  </p><p>Line one<br>line two of an address.</p>PROSE</article>"
    )
    article = _article(_page(body).encode())
    assert article.paragraphs[:2] == (
        "The river rose by four metres overnight, officials said on Monday.",
        "Line one line two of an address.",
    )


def test_blank_lines_made_of_line_breaks_separate_paragraphs() -> None:
    """Old sites write a story as one block of text with <br><br> between paragraphs."""
    paragraphs = [f"Paragraph {n}: the river rose by several metres overnight, officials said." for n in range(6)]
    page = _page(f"<div class='main'><h1>Floods</h1><div class='text'>{'<br><br>'.join(paragraphs)}</div></div>")
    assert _article(page.encode()).paragraphs == tuple(paragraphs)


# -- metadata ----------------------------------------------------------------------------------------


def test_title_is_the_h1_when_the_title_tag_carries_the_site_name() -> None:
    head = "<title>Floods close schools in Kerala - Coastal Times</title>"
    body = (
        "<header><a href='/'>Coastal Times</a></header><article><h1>Floods close schools in Kerala</h1>PROSE</article>"
    )
    article = _article(_page(body, head).encode(), url="https://coastal.example/floods")
    assert article.title == "Floods close schools in Kerala"
    assert article.url == "https://coastal.example/floods"  # no canonical link: where it was fetched from


def test_site_name_is_cut_from_either_end_of_the_title() -> None:
    site = '<meta property="og:site_name" content="Coastal Times">'
    for title in ("Coastal Times: Floods close schools in Kerala", "Floods close schools in Kerala — Coastal Times"):
        article = _article(_page("<div>PROSE</div>", f"<title>{title}</title>{site}").encode())
        assert article.title == "Floods close schools in Kerala"
        assert article.source == "Coastal Times"


def test_page_without_a_date_has_none_not_today() -> None:
    body = "<article><h1>Floods</h1>PROSE</article><footer>© 2024 Coastal Times. All rights reserved.</footer>"
    article = _article(_page(body).encode())
    assert article.date is None


def test_todays_date_is_kept_only_when_the_page_says_it() -> None:
    today = dt.date.today()
    assert webpage._page_date(today.isoformat(), "<p>Floods</p>") is None
    written = f"<time>{today.day} {today.strftime('%B')} {today.year}</time>"
    assert webpage._page_date(today.isoformat(), written) == today.isoformat()
    assert webpage._page_date("2022-06-07", "<p>Floods</p>") == "2022-06-07"


def test_relative_canonical_is_resolved_and_a_script_address_is_refused() -> None:
    head = '<link rel="canonical" href="/news/floods">'
    assert _article(_page("<div>PROSE</div>", head).encode(), url="https://coastal.example/a?x=1").url == (
        "https://coastal.example/news/floods"
    )
    head = '<link rel="canonical" href="javascript:alert(1)"><meta property="og:url" content="data:text/html,x">'
    assert _article(_page("<div>PROSE</div>", head).encode()).url is None


# -- encodings ---------------------------------------------------------------------------------------


def test_windows_1251_page_is_decoded_by_its_meta_charset() -> None:
    head = (
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><title>Бої за Сєвєродонецьк</title>'
    )
    body = (
        "<article><p>Українські та російські війська вели вуличні бої за Сєвєродонецьк у понеділок.</p>PROSE</article>"
    )
    article = _article(_page(body, head).encode("cp1251"))
    assert article.title == "Бої за Сєвєродонецьк"
    assert "Сєвєродонецьк" in article.paragraphs[0]


def test_latin_1_label_is_read_as_windows_1252_like_a_browser() -> None:
    head = '<meta charset="iso-8859-1">'
    body = "<article><p>In Zürich the fine rose to 200 € per day, the café owners said on Monday.</p>PROSE</article>"
    article = _article(_page(body, head).encode("cp1252"))
    assert article.paragraphs[0] == "In Zürich the fine rose to 200 € per day, the café owners said on Monday."


def test_utf16_with_byte_order_mark_and_gzip_are_read() -> None:
    page = _page("<article><p>Ein Fluss in Köln trat über die Ufer, sagte die Stadt.</p>PROSE</article>")
    assert _article(page.encode("utf-16")).paragraphs[0] == "Ein Fluss in Köln trat über die Ufer, sagte die Stadt."
    assert _article(gzip.compress(page.encode("utf-8"))).paragraphs[0].startswith("Ein Fluss in Köln")


# -- hostile and empty pages -------------------------------------------------------------------------


def test_empty_page_is_a_reason() -> None:
    assert _read(b"") == "empty page"
    assert _read(b"  \n\t ") == "empty page"
    assert _read(b"<!-- nothing -->") == "not a readable web page (no HTML elements)"


def test_page_without_an_article_is_a_reason() -> None:
    page = (
        "<html><head><title>Log in | Coastal Times</title></head><body><nav><a href='/'>Home</a> <a href='/news'>News"
        "</a></nav><div class='cookie-banner'><p>We use cookies to improve your experience on our website, to analyse "
        "traffic and to show you personalised advertising.</p><button>Accept all</button></div><form><input name=u>"
        "<button>Log in</button></form><footer>© 2024 Coastal Times</footer></body></html>"
    )
    assert _read(page.encode()) == "no article text found"


@pytest.mark.parametrize("seed", range(20))
def test_binary_data_is_a_reason(seed: int) -> None:
    noise = random.Random(seed).randbytes(50_000)
    assert _read(noise) == "not a web page (binary data)"
    assert _read(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + noise[:5_000]) == "not a web page (binary data)"


def test_control_characters_in_a_page_are_dropped_not_fatal() -> None:
    page = _page("<article><p>The river\x00 rose\x01 overnight, officials said on Monday.</p>PROSE</article>")
    assert _article(page.encode()).paragraphs[0] == "The river rose overnight, officials said on Monday."


def test_plain_text_is_a_reason() -> None:
    assert _read(b"plain text, not HTML") == "no article text found"


def test_deeply_nested_elements_keep_the_article_before_them() -> None:
    """libxml2 stops nesting at 256 levels: the 100,000 <div>s cost nothing and the story is kept."""
    body = "<article><h1>Floods</h1>PROSE</article>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000
    article = _article(_page(body).encode())
    assert len(article.paragraphs) == 4
    assert "deep" not in " ".join(article.paragraphs)


def test_ten_megabyte_attribute_does_not_lose_the_page() -> None:
    """libxml2 would abort the whole parse on an attribute over 10,000,000 characters."""
    page = _page("<article data-blob='BLOB'><h1>Floods</h1>PROSE</article>")
    page = page.replace("BLOB", "A" * (MAX_HTML_BYTES - len(page) - 10))
    assert len(page) > 10_000_000
    article = _article(page.encode())
    assert len(article.paragraphs) == 4


def test_entities_declared_in_the_doctype_are_not_expanded() -> None:
    laughs = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    page = _page(
        "<article><p>It said &l9;&l9;.</p>PROSE</article>", doctype=f'<!DOCTYPE html [<!ENTITY l0 "lol">{laughs}]>'
    )
    article = _article(page.encode())
    assert len(article.paragraphs[0]) < 100  # expanded, &l9; would be 3 billion characters


@pytest.mark.parametrize("name", ["a{}", "a<{}", 'a{}=">"'], ids=["plain", "lt-in-name", "gt-in-value"])
def test_element_with_300000_attributes_is_a_reason_not_a_long_wait(name: str) -> None:
    """libxml2 compares each attribute with every earlier one: unchecked, this page takes minutes to parse."""
    attributes = " ".join(name.format(n) for n in range(300_000))
    reason = _read(_page(f"<article><div {attributes}>PROSE</div></article>").encode())
    assert reason == f"not a readable web page (an element with more than {MAX_ATTRIBUTES} attributes)"


def test_inline_svg_and_scripts_do_not_count_but_json_ld_metadata_is_read() -> None:
    json_ld = (
        '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
        '"headline": "Floods close schools", "datePublished": "2021-03-04T08:00:00Z", '
        '"author": {"@type": "Person", "name": "Asha Menon"}}</script>'
    )
    icons = "<svg>" + "<path d='M0 0'/>" * (MAX_ELEMENTS + 1) + "</svg>"
    article = _article(_page(f"{icons}<article>PROSE</article><script>var x = 1;</script>", json_ld).encode())
    assert (article.title, article.date, article.author) == ("Floods close schools", "2021-03-04", "Asha Menon")
    assert len(article.paragraphs) == 4


def test_page_over_the_size_cap_is_a_reason_even_gzipped() -> None:
    assert _read(b" " * (MAX_HTML_BYTES + 1)) == "page larger than 10 MB"
    assert _read(gzip.compress(b"<p>" + b" " * (50 * 1024 * 1024))) == "page larger than 10 MB"
    assert _read(b"\x1f\x8b\x08\x00damaged") == "not a readable web page (damaged gzip data)"


def test_too_many_elements_is_a_reason_not_a_long_wait() -> None:
    page = "<html><body><p>" + "<span>w</span>" * (MAX_ELEMENTS + 1) + "</p></body></html>"
    assert _read(page.encode()) == f"page too complex (more than {MAX_ELEMENTS:,} elements)"


def test_too_many_paragraphs_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webpage, "MAX_PARAGRAPHS", 3)
    assert _read(_page("<article>PROSE</article>", paragraphs=4).encode()) == "more than 3 paragraphs"


def test_library_failure_is_a_reason_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(webpage.trafilatura, "bare_extraction", explode)  # in this process: read it here
    found = webpage.page_fields(SAVED.read_bytes(), fallback_title="x")
    assert found == {"reason": "not a readable web page (RecursionError: maximum recursion depth exceeded)"}


def test_a_page_that_needs_gigabytes_is_a_reason_and_the_reader_recovers() -> None:
    """10 MB of <p> elements with 199 attributes each passes every cap on the page itself, yet lxml took
    2.2-2.5 GB and 10-22 s of CPU in the bot's own process; it is read in a capped child now."""
    attributes = " ".join(f"a{n}" for n in range(199))
    element = f"<p {attributes}>x</p>"
    page = ("<html><body>" + element * (MAX_HTML_BYTES // len(element) - 1) + "</body></html>").encode()
    assert len(page) <= MAX_HTML_BYTES
    with deadline(webpage.MAX_SECONDS + 30):
        reason = _read(page)
    # where the cap bites (lxml's C code or Python's) decides the wording, never the outcome
    assert isinstance(reason, str) and reason.startswith("not a readable web page (") and "memory" in reason.lower()
    assert _article(SAVED.read_bytes()).title  # a new reader takes the next page


def test_a_reader_that_hangs_is_stopped_at_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from retrieval.sandbox import Sandbox

    slow = Sandbox(Path(__file__).resolve().parent / "sleepy_reader.py", "read", memory_bytes=2**30, seconds=1.0)
    with deadline(30), pytest.raises(SandboxFailed, match=r"still reading after 1 s"):
        slow.run(b"", {"seconds": 60})
    assert slow.run(b"abc", {"seconds": 0}) == {"length": 3}  # a fresh child answers the next document
    slow.close()
