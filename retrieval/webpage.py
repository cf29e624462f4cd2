"""Reading an article from a saved web page (``.html``), through trafilatura.

Only the article body becomes paragraphs. trafilatura finds the body and already drops most
page furniture, but it keeps a box whose class names it does not know, so the page is
pre-cleaned first: elements whose tag, class, id or role clearly mark furniture (adverts,
"Read more"/"Related" boxes, share bars, newsletter sign-ups, cookie banners, bylines,
navigation, footers, captions) are removed unless they hold the headline or most of the
page's text. After extraction a paragraph that is only a furniture label ("Advertisement",
"Share this article", "Read more: <link>", "By <the author>", the headline repeated) is
dropped too; nothing else is rewritten, so every paragraph is the text a reader sees, with
whitespace collapsed.

Metadata (title, date, canonical URL, author, site name) is read before furniture is removed.
A date equal to today's that the page does not spell out is dropped: a page's own date is
never the day it was read.

Hostile pages cannot hang or crash a build: the page is capped in bytes (also when gzipped),
in elements (outside scripts and SVG) and in attributes per element (libxml2's check for
duplicates is quadratic); libxml2 caps nesting depth at 256 and never expands DOCTYPE entities
in HTML; any exception from the parsing libraries becomes a one-line reason. ``read_html``
returns that reason instead of an Article; the caller warns and skips the page. And the page is
read in a child process (``sandbox.py``) capped at ``MEMORY_BYTES`` and ``MAX_SECONDS``: a page
within every cap above still took 2.5 GB and 20 s of CPU inside lxml, which in the bot's own
process stalled every chat.
"""

from __future__ import annotations

import codecs
import datetime as dt
import itertools
import logging
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import lxml.html
import trafilatura
from lxml import etree

if TYPE_CHECKING:  # the reading child loads this file alone, without citebot
    from retrieval.records import Article

MAX_HTML_BYTES = 10 * 1024 * 1024  # of decompressed page
MAX_PARAGRAPHS = 20_000
# trafilatura's time grows with the element count (2.5 s for 50,000 <div>s on a 2-core machine):
# a real news page, once scripts and inline SVG are gone, has a few thousand.
MAX_ELEMENTS = 50_000
# A start tag longer than this is an inlined image or data blob: its attributes are dropped
# (libxml2 aborts the whole parse on an attribute value over 10,000,000 characters).
MAX_TAG_CHARS = 100_000
# libxml2 checks each attribute against all earlier ones of its element: a million attributes
# on one element take an hour. No real element has hundreds.
MAX_ATTRIBUTES = 200
MEMORY_BYTES = 1024**3  # the reading process's address space: a 9 MB page of 60,000 elements peaks at 0.5 GB
MAX_SECONDS = 60.0
_LIMITS = ("MAX_HTML_BYTES", "MAX_PARAGRAPHS", "MAX_ELEMENTS", "MAX_TAG_CHARS", "MAX_ATTRIBUTES")
_FIELDS = ("title", "date", "url", "source", "author")

for _name in ("trafilatura", "htmldate", "courlan", "justext"):
    logging.getLogger(_name).setLevel(logging.ERROR)

_TRAFILATURA_OPTIONS = {
    "include_comments": False,
    "include_tables": False,
    "include_images": False,
    "include_links": False,
    "favor_precision": True,
}
# htmldate: no free-text guessing (a copyright year is not a publication date), and the
# first publication rather than the last update.
_DATE_OPTIONS = {"extensive_search": False, "original_date": True}

_SPACES = re.compile(r"\s+")
_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-z0-9._:-]{1,40})""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]{0,200}\?>")
# Control characters are invisible in a browser, and libxml2 turns them into U+FFFD.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]+")
# Start tags as an HTML5 tokenizer delimits them (a quote opens a value only after "=", a "<" may
# be part of an attribute name), skipping comments, scripts and styles. Every alternative matches
# up to its end or the end of the text and the quantifiers are possessive, so one pass is linear.
_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(script|style)\b.*?(?:</\1\s*>|\Z)"
    r"""|<(?P<name>[a-zA-Z][^\s/>]*+)(?:[^>"'=]++|=\s*+"[^"]*+"?|=\s*+'[^']*+'?|=|["'])*+>?""",
    re.DOTALL | re.IGNORECASE,
)
_QUOTED_VALUE = re.compile(r"""=\s*(?:"[^"]*"?|'[^']*'?)""")
_ATTRIBUTE_WORD = re.compile(r"[^\s/]+")
_SHORT_TAG = 2 * MAX_ATTRIBUTES  # characters: a tag this short cannot hold too many attributes
_BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# WHATWG: browsers read these labels as the wider encodings.
_ENCODING_ALIASES = {
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}

# Removed wherever they are: never article text, and never around it.
_OPAQUE_TAGS = frozenset(
    "script style noscript template svg math iframe frame object embed canvas audio video picture "
    "button select input textarea".split()
)
# Removed unless the story is inside (some sites wrap the whole page in a <form>).
_FURNITURE_TAGS = frozenset("figure figcaption nav footer aside form dialog menu".split())
# Only these are removed by class, id or role: an inline <span class="share-count"> is harmless, and
# <body class="has-cookie-banner">, <main>, <article> and <h1> are never furniture.
_BLOCK_TAGS = frozenset("div section header ul ol li dl p table".split())
_FURNITURE_WORDS = frozenset(
    "ad ads adslot adunit adcontainer advert adverts advertisement advertising dfp sponsor sponsored promo promos "
    "outbrain taboola readmore alsoread seealso related relatedstories relatedarticles recommended morestories "
    "mostread mostpopular share shares sharing sharebar sharetools social newsletter newsletters subscribe "
    "subscription signup cookie cookies consent gdpr breadcrumb breadcrumbs byline bylines nav navbar navigation "
    "menu footer skiplink comments".split()
)
_FURNITURE_ROLES = frozenset("navigation banner contentinfo complementary dialog alertdialog search".split())
_PROSE_PARAGRAPH = 80  # characters: a sentence or two, not a label
# Furniture-looking boxes inside furniture-looking boxes are looked at this deep: the guard reads
# each box's whole subtree, and a box kept for holding the story may still hold an advert.
_MAX_FURNITURE_NESTING = 3
_WORD_PARTS = re.compile(r"[a-z0-9]+")

# Whole paragraphs that are a label, not prose (compared lower-cased, without end punctuation).
_FURNITURE_LINES = frozenset(
    [
        "advertisement",
        "advertisements",
        "ad",
        "sponsored",
        "sponsored content",
        "story continues below",
        "story continues below advertisement",
        "article continues below advertisement",
        "continue reading",
        "continue reading below",
        "scroll to continue with content",
        "read more",
        "read also",
        "also read",
        "see also",
        "related",
        "related stories",
        "related articles",
        "related content",
        "more stories",
        "recommended",
        "recommended stories",
        "share",
        "share this",
        "share this article",
        "share this story",
        "share on facebook",
        "share on twitter",
        "copy link",
        "subscribe",
        "sign up",
        "skip to content",
        "skip to main content",
        "view comments",
        "show comments",
        "comments",
        "load more",
        "print",
        "email",
        "follow us",
        "listen to this article",
        "accept all",
        "accept cookies",
        "cookie settings",
    ]
)
_LINK_LINE = re.compile(
    r"^(read more|read also|also read|see also|also see|related|related story|related article|recommended|"
    r"more on this|watch|listen)\s*[:>»|-]\s*\S",
    re.IGNORECASE,
)
_MAX_LINK_LINE = 200
_MAX_BYLINE = 150
_TITLE_SEPARATORS = r"[|\-–—:·•»~/]+"
_PARAGRAPH_BREAK = "\u2029"  # stands in for <br> while the text is collected
_MONTHS = ("january february march april may june july august september october november december").split()


class _Refused(Exception):
    """A page read no further; the message is the reason."""


def read_html(data: bytes, *, article_id: str, fallback_title: str, url: str | None = None) -> Article | str:
    """An Article from a saved web page's bytes, or the one-line reason it has none (the caller warns and skips)."""
    from retrieval.records import Article
    from retrieval.sandbox import SandboxFailed

    limits = {name: globals()[name] for name in _LIMITS}  # the parent's caps, as set now
    try:
        found = _readers().run(data, {"fallback_title": fallback_title, "url": url, "limits": limits})
    except SandboxFailed as failure:
        return f"not a readable web page ({failure})"
    if "reason" in found:
        return str(found["reason"])
    fields = {name: found[name] for name in _FIELDS}
    return Article(article_id=article_id, paragraphs=tuple(found["paragraphs"]), **fields)


_sandbox: Any = None


def _readers() -> Any:
    global _sandbox
    if _sandbox is None:
        from retrieval.sandbox import Sandbox

        _sandbox = Sandbox(Path(__file__).resolve(), "page_fields", memory_bytes=MEMORY_BYTES, seconds=MAX_SECONDS)
    return _sandbox


def page_fields(
    data: bytes, *, fallback_title: str, url: str | None = None, limits: dict[str, int] | None = None
) -> dict[str, Any]:
    """A page's article fields, or ``{"reason": ...}``: what the reading child runs (callable in-process too)."""
    globals().update(limits or {})
    try:
        return _read(data, fallback_title=fallback_title, url=url)
    except _Refused as refusal:
        return {"reason": str(refusal)}
    except MemoryError:
        raise  # the child's heap is suspect: it says so and ends (sandbox.py)
    except Exception as exc:  # any kind from lxml, trafilatura, htmldate on odd input (RecursionError too)
        detail = _SPACES.sub(" ", str(exc)).strip()[:80]
        return {"reason": f"not a readable web page ({type(exc).__name__}{': ' + detail if detail else ''})"}


def _read(data: bytes, *, fallback_title: str, url: str | None) -> dict[str, Any]:
    text = _decoded(_decompressed(data))
    if _looks_binary(text):
        raise _Refused("not a web page (binary data)")
    text = _cleaned(text)
    if not text.strip():
        raise _Refused("empty page")
    tree = _parsed(text)
    furniture = _furniture(tree)
    meta = _meta_tags(tree)
    document = trafilatura.extract_metadata(tree, default_url=url, date_config=dict(_DATE_OPTIONS))
    for element in furniture:
        _drop(element)
    extracted = trafilatura.bare_extraction(tree, url=url, with_metadata=False, **_TRAFILATURA_OPTIONS)
    site_names = [name for name in (meta.get("og:site_name"), document.sitename, meta.get("application-name")) if name]
    title = _title(tree, meta, document.title, site_names) or fallback_title
    author = _clean(document.author) or None
    paragraphs = _paragraphs(extracted.body if extracted is not None else None, title, author, site_names)
    if not paragraphs:
        raise _Refused("no article text found")
    return {
        "title": title,
        "paragraphs": paragraphs,
        "date": _page_date(document.date, text),
        "url": _canonical_url(tree, meta, url),
        "source": _clean(site_names[0]) if site_names else None,
        "author": author,
    }


# -- bytes to tree ---------------------------------------------------------------------------------


def _decompressed(data: bytes) -> bytes:
    """The page's bytes, gunzipped if saved compressed."""
    too_big = _Refused(f"page larger than {MAX_HTML_BYTES // (1024 * 1024)} MB")
    if not data.startswith(b"\x1f\x8b"):
        if len(data) > MAX_HTML_BYTES:
            raise too_big
        return data
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        page = inflater.decompress(data, MAX_HTML_BYTES + 1)  # bounded: a gzip bomb stops here
    except zlib.error:
        page = b""
    if len(page) > MAX_HTML_BYTES or inflater.unconsumed_tail:
        raise too_big
    if not page and not inflater.eof:
        raise _Refused("not a readable web page (damaged gzip data)")
    return page


def _decoded(page: bytes) -> str:
    """Text in the encoding a browser would pick: byte-order mark, then the declared charset, then UTF-8."""
    for bom, encoding in _BYTE_ORDER_MARKS:
        if page.startswith(bom):
            return page[len(bom) :].decode(encoding, errors="replace")
    declared = _declared_encoding(page[:4096])
    if declared:
        return page.decode(declared, errors="replace")
    try:
        return page.decode("utf-8")
    except UnicodeDecodeError:
        return page.decode("cp1252", errors="replace")


def _declared_encoding(head: bytes) -> str | None:
    match = _CHARSET.search(head)
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    if name.startswith(("utf-16", "utf-32")):  # a page that says so but has no byte-order mark is ASCII-compatible
        return "utf-8"
    return _ENCODING_ALIASES.get(name, name)


def _looks_binary(text: str) -> bool:
    """An image or archive saved as .html: text, even broken HTML, has almost no control characters."""
    sample = text[:8192]
    controls = sum(len(run) for run in _CONTROL_CHARACTERS.findall(sample))
    return controls * 100 > len(sample)


def _cleaned(text: str) -> str:
    """What libxml2 parses quickly and whole: no XML declaration (refused in a str), no control characters,
    no huge start tags; raises _Refused for a start tag with too many attributes."""
    text = _CONTROL_CHARACTERS.sub("", _XML_DECLARATION.sub("", text, count=1))
    pieces: list[str] = []
    done = 0
    for tag in _MARKUP.finditer(text):
        if tag.group("name") and tag.end() - tag.start() > _SHORT_TAG and _too_big_tag(tag.group(0)):
            pieces += [text[done : tag.start()], f"<{tag.group('name')}>"]
            done = tag.end()
    return "".join([*pieces, text[done:]]) if pieces else text


def _too_big_tag(tag: str) -> bool:
    words = len(_ATTRIBUTE_WORD.findall(_QUOTED_VALUE.sub("=", tag))) - 1  # the tag name is a word too
    if words > MAX_ATTRIBUTES:
        raise _Refused(f"not a readable web page (an element with more than {MAX_ATTRIBUTES} attributes)")
    return len(tag) > MAX_TAG_CHARS


def _parsed(text: str) -> lxml.html.HtmlElement:
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, collect_ids=False)
    try:
        tree = lxml.html.document_fromstring(text, parser=parser)
    except etree.ParserError:  # "Document is empty"
        tree = None
    if tree is None or not len(tree):
        raise _Refused("not a readable web page (no HTML elements)")
    return tree


# -- pre-cleaning ----------------------------------------------------------------------------------


def _furniture(tree: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """Remove what is never text (scripts, SVG, media); return the furniture to remove after the metadata is read.

    One walk with an explicit stack (no recursion). It counts every element the libraries will
    see and refuses a page with too many: their time grows with the count.
    """
    opaque: list[lxml.html.HtmlElement] = []
    marked: list[tuple[lxml.html.HtmlElement, int | None]] = []  # with the index of the nearest marked ancestor
    count = 0
    stack: list[tuple[lxml.html.HtmlElement, int | None, int]] = [(tree, None, 0)]
    while stack:
        element, ancestor, depth = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise _Refused(f"page too complex (more than {MAX_ELEMENTS:,} elements)")
        for child in element:
            if not isinstance(child.tag, str):  # entities left unexpanded
                continue
            if child.tag in _OPAQUE_TAGS:
                if not _is_json_ld(child):
                    opaque.append(child)
                continue
            if depth < _MAX_FURNITURE_NESTING and _is_furniture(child):
                marked.append((child, ancestor))
                stack.append((child, len(marked) - 1, depth + 1))
            else:
                stack.append((child, ancestor, depth))
    for element in opaque:
        _drop(element)
    return _unguarded(marked, total=sum(_prose_lengths(tree)))


def _unguarded(marked: list[tuple[lxml.html.HtmlElement, int | None]], total: int) -> list[lxml.html.HtmlElement]:
    """The marked elements that do not hold the story, outermost first; what is inside one of them goes with it.

    Ancestors come before descendants in ``marked``, and the nesting cap bounds how often one
    element is read by the guard.
    """
    removed: list[bool] = []
    furniture: list[lxml.html.HtmlElement] = []
    for element, ancestor in marked:
        if ancestor is not None and removed[ancestor]:
            removed.append(True)
            continue
        removed.append(not _holds_article(element, total))
        if removed[-1]:
            furniture.append(element)
    return furniture


def _is_json_ld(element: lxml.html.HtmlElement) -> bool:
    """Structured metadata (headline, dates, author) that trafilatura and htmldate read."""
    return element.tag == "script" and "ld+json" in (element.get("type") or "").lower()


def _is_furniture(element: lxml.html.HtmlElement) -> bool:
    tag = element.tag.lower() if isinstance(element.tag, str) else ""
    if tag in _FURNITURE_TAGS:
        return True
    if tag not in _BLOCK_TAGS:
        return False
    if (element.get("role") or "").strip().lower() in _FURNITURE_ROLES:
        return True
    return any(_furniture_name(element.get(attribute) or "") for attribute in ("class", "id"))


def _furniture_name(value: str) -> bool:
    """Whether a class or id says furniture: "ad-slot", "read-more", "c-share-bar__item", "relatedStories"."""
    for token in value.split()[:20]:
        parts = _WORD_PARTS.findall(re.sub(r"([a-z])([A-Z])", r"\1 \2", token).lower())
        pairs = ["".join(pair) for pair in itertools.pairwise(parts)]
        if any(word in _FURNITURE_WORDS for word in (*parts, *pairs)):
            return True
    return False


def _holds_article(element: lxml.html.HtmlElement, total: int) -> bool:
    """A furniture-looking wrapper around the story itself (a bad class name) is kept.

    It holds the headline or the article element, or most of the page's prose in several
    paragraphs (one paragraph is a cookie notice on a page with no story).
    """
    if next(element.iter("h1", "article", "main"), None) is not None:
        return True
    if element.xpath("boolean(.//*[@itemprop='articleBody'])"):
        return True
    lengths = _prose_lengths(element)
    return sum(lengths) * 2 > total and sum(length >= _PROSE_PARAGRAPH for length in lengths) >= 3


def _prose_lengths(element: lxml.html.HtmlElement) -> list[int]:
    """Characters of each <p>: prose, where script and style text would dwarf it."""
    return [sum(len(piece) for piece in paragraph.itertext()) for paragraph in element.iter("p")]


def _drop(element: lxml.html.HtmlElement) -> None:
    if element.getparent() is None:
        return
    if element.tail:
        element.tail = " " + element.tail  # removed blocks separated words
    element.drop_tree()


# -- metadata --------------------------------------------------------------------------------------


def _meta_tags(tree: lxml.html.HtmlElement) -> dict[str, str]:
    """The first content of each <meta property|name> (lower-cased key), whitespace collapsed."""
    found: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        content = _clean(element.get("content"))
        if key and content and key not in found:
            found[key] = content
    return found


def _title(tree: lxml.html.HtmlElement, meta: dict[str, str], found: str | None, site_names: list[str]) -> str:
    """The headline: og:title, else the page's one <h1>, else trafilatura's pick, else <title>; no site-name suffix."""
    for candidate in (meta.get("og:title"), meta.get("twitter:title"), _headline(tree), found, _title_tag(tree)):
        title = _without_site_name(_clean(candidate), site_names)
        if title and title.lower() not in (name.lower() for name in site_names):
            return title
    return ""


def _headline(tree: lxml.html.HtmlElement) -> str:
    headings = [h for h in tree.iter("h1") if _clean(h.text_content())]
    if len(headings) > 1:  # a logo in an <h1> too: prefer the one in the story
        headings = [h for h in headings if h.xpath("ancestor::article or ancestor::main")]
    return _clean(headings[0].text_content()) if headings else ""


def _title_tag(tree: lxml.html.HtmlElement) -> str:
    element = tree.find(".//title")
    return _clean(element.text_content()) if element is not None else ""


def _without_site_name(title: str, site_names: list[str]) -> str:
    """Cut "| Site" from the end or "Site:" from the start; the space keeps "BBC-funded study" whole."""
    for name in site_names:
        name = re.escape(_clean(name))
        for pattern in (rf"\s+{_TITLE_SEPARATORS}\s*{name}$", rf"^{name}\s*{_TITLE_SEPARATORS}\s+"):
            shorter = re.sub(pattern, "", title, flags=re.IGNORECASE).strip()
            if shorter and shorter != title:
                return shorter
    return title


def _canonical_url(tree: lxml.html.HtmlElement, meta: dict[str, str], fetched: str | None) -> str | None:
    """The page's own address (canonical link, then og:url), else where it was fetched from; http(s) only."""
    candidates = [
        element.get("href")
        for element in tree.iter("link")
        if "canonical" in (element.get("rel") or "").lower().split()
    ]
    for candidate in (*candidates, meta.get("og:url"), fetched):
        address = _web_address(candidate, fetched)
        if address:
            return address
    return None


def _web_address(candidate: str | None, base: str | None) -> str | None:
    candidate = _clean(candidate)
    if not candidate:
        return None
    try:
        address = urljoin(base or "", candidate)
        parts = urlsplit(address)
    except ValueError:
        return None
    return address if parts.scheme in ("http", "https") and parts.netloc else None


def _page_date(found: str | None, text: str) -> str | None:
    """htmldate's date, unless it is today's and the page never says today's date (then it is a guess)."""
    if not found:
        return None
    today = dt.date.today()
    if found != today.isoformat() or _mentions(text, today):
        return found
    return None


def _mentions(text: str, day: dt.date) -> bool:
    month = _MONTHS[day.month - 1]
    spellings = [
        day.isoformat(),
        day.strftime("%Y/%m/%d"),
        day.strftime("%Y%m%d"),
        day.strftime("%d.%m.%Y"),
        day.strftime("%d/%m/%Y"),
        day.strftime("%m/%d/%Y"),
        f"{day.day} {month} {day.year}",
        f"{day.day} {month[:3]} {day.year}",
        f"{month} {day.day}, {day.year}",
        f"{month[:3]} {day.day}, {day.year}",
    ]
    lowered = _SPACES.sub(" ", text.lower())
    return any(spelling in lowered for spelling in spellings)


# -- paragraphs ------------------------------------------------------------------------------------


def _paragraphs(body: etree._Element | None, title: str, author: str | None, site_names: list[str]) -> list[str]:
    """Each block of trafilatura's body as the text a reader sees; a list item is a paragraph of its own."""
    if body is None:
        return []
    for line_break in body.iter("lb"):
        line_break.text = _PARAGRAPH_BREAK
    paragraphs: list[str] = []
    for block in _blocks(body):
        for piece in re.split(f"{_PARAGRAPH_BREAK}(?:\\s*{_PARAGRAPH_BREAK})+", "".join(block.itertext())):
            paragraph = _clean(piece)
            if paragraph and not _is_label(paragraph, title, author, site_names, first=not paragraphs):
                paragraphs.append(paragraph)
                if len(paragraphs) > MAX_PARAGRAPHS:
                    raise _Refused(f"more than {MAX_PARAGRAPHS:,} paragraphs")
    return paragraphs


def _blocks(body: etree._Element) -> list[etree._Element]:
    blocks: list[etree._Element] = []
    for element in body:
        if element.tag == "list":
            blocks.extend(element.findall("item"))
        else:
            blocks.append(element)
    return blocks


def _is_label(paragraph: str, title: str, author: str | None, site_names: list[str], *, first: bool) -> bool:
    """A paragraph that is page furniture trafilatura kept: a label, a link to another story, the byline."""
    bare = paragraph.lower().rstrip(" .:!…›»>|").strip()
    if bare in _FURNITURE_LINES or bare in (name.lower() for name in site_names):
        return True
    if first and bare == title.lower().rstrip(" .:!…›»>|").strip():
        return True
    if len(paragraph) <= _MAX_LINK_LINE and _LINK_LINE.match(paragraph):
        return True
    return bool(
        author and len(paragraph) <= _MAX_BYLINE and bare.startswith("by ") and author.lower() in paragraph.lower()
    )


def _clean(text: str | None) -> str:
    return _SPACES.sub(" ", text).strip() if text else ""
