"""PDF text as quotable paragraphs, each with the page it starts on.

pdfminer.six was chosen over pypdf by measurement (generated 50-page report of 300 paragraphs, and the test fixtures):
pypdf takes 2.1 ms/page (2.3 in layout mode) but plain mode gives no paragraph breaks, and layout mode misses small
gaps and interleaves two columns line by line; pdfminer takes 15 ms/page and gets all 316 fixture paragraphs exact.

How the text is read, so that quotes stay exact and honest:

- Lines come from pdfminer's layout analysis; its text boxes are taken in the order the PDF draws them (content-
  stream order, as pypdf and pdftotext do), which keeps columns whole where pdfminer's own ordering interleaves them.
- A new paragraph starts where the next line is not just below the last (a new column or block), where the gap is
  clearly wider than the page's usual line spacing, at a first-line indent, and at a bullet.
- Line breaks become spaces. A line-end hyphen is dropped only when the word is plainly split: the document spells
  the joined word elsewhere, or a lowercase fragment meets a lowercase continuation ("inter-/national"). It is kept
  when the document spells the hyphenated form elsewhere, when the fragment is capitalised ("Kremlin-/backed" stays
  "Kremlin-backed"), when it ends a compound ("street-by-/street") or either side is a number ("COVID-/19"). So a
  lowercase compound split at its own hyphen ("long-/term") loses it unless the document has it whole elsewhere.
- A one-line paragraph that is only a page number ("7", "Page 7 of 9", "- 7 -") is dropped.
- Paragraphs do not cross pages or columns unless the text clearly runs on: a paragraph that ends without
  sentence-final punctuation followed by one that starts with a lowercase letter is one paragraph, and keeps the page
  it started on. Running headers other than page numbers are not recognised and stay paragraphs of their own.
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LAParams, LTChar, LTFigure, LTPage, LTTextBox, LTTextLine
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1
from pdfminer.utils import decode_text

if TYPE_CHECKING:  # the reading child runs this file alone, without citebot
    from retrieval.records import Article

MAX_PAGES = 2000
MAX_PARAGRAPHS = 20_000
MAX_CHARS = 5_000_000
MAX_SECONDS = 120.0  # a 2000-page report takes about 30 s; pdfminer can loop forever on a self-referencing object
MEMORY_BYTES = 2 * 1024**3  # the reading process's address space (pdfminer inflates streams without a limit)

_Item = TypeVar("_Item")

NO_TEXT_LAYER = "no text layer (a scanned PDF?): skipped"
NEEDS_PASSWORD = "encrypted PDF that needs a password: skipped"

# pdfminer logs a warning for every oddity in real-world files; the caller reports one reason instead.
logging.getLogger("pdfminer").setLevel(logging.ERROR)

# line_margin 1.0 keeps loosely leaded paragraphs in one box (the default 0.5 made every line of a 1.5-spaced page
# its own box); wider gaps are then found per page below. all_texts reads text drawn inside form XObjects too.
_LAYOUT = {"line_margin": 1.0, "all_texts": True, "boxes_flow": None}
_EXTRA_GAP = 0.3  # line heights beyond the page's usual spacing that mark a new paragraph
_INDENT = 0.8  # line heights of first-line indent that mark a new paragraph

_PAGE_NUMBER = re.compile(r"[-–—\s]*(?:page\s*)?\d{1,5}(?:\s*(?:of|/)\s*\d{1,5})?[-–—\s]*", re.IGNORECASE)
_BULLET = re.compile(r"[•◦▪‣●■]\s")
_SENTENCE_END = re.compile(r"[.!?:…][\"'”’)\]]*$")
_LETTERS = r"[^\W\d_]+"
_WORDS = re.compile(rf"{_LETTERS}(?:[-‐]{_LETTERS})*")
_LINE_END_HYPHEN = re.compile(r"(^|\W)([^\W_]+)[-‐]$")  # the character before the word, the word
_FIRST_WORD = re.compile(r"[^\W_]+")
_JUNK = re.compile(r"\(cid:\d+\)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_FILE_NAME = re.compile(r"^(microsoft \w+ - |untitled\b)|^\S+\.[a-z0-9]{2,5}$", re.IGNORECASE)


class _Unreadable(Exception):
    """A reason to skip the file, already worded for the user."""


@dataclass
class _Line:
    text: str
    x0: float
    x1: float
    y0: float
    height: float


@dataclass
class _Paragraph:
    page: int
    lines: list[str]


def read_pdf(data: bytes, *, article_id: str, fallback_title: str) -> Article | str:
    """An Article from a PDF's bytes, or the one-line reason it has none (the caller warns and skips).

    The parsing runs in a child process with a memory cap and a time limit: pdfminer can loop
    forever on a self-referencing object and decompresses streams without a size limit, and
    neither may stall or kill a bot that serves everyone. The child loads only this file and
    pdfminer (~0.1 s), not citebot.
    """
    from retrieval.records import Article

    try:
        done = subprocess.run(
            [sys.executable, "-I", str(Path(__file__).resolve()), json.dumps(_limits())],
            input=data,
            capture_output=True,
            timeout=MAX_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"not a readable PDF (still reading after {MAX_SECONDS:g} s)"
    except OSError as exc:
        return f"not a readable PDF (the reader could not start: {exc.strerror or exc})"
    try:
        found = json.loads(done.stdout)
    except ValueError:
        killed = done.returncode < 0 or b"MemoryError" in done.stderr
        return "not a readable PDF (" + ("it needs too much memory or time" if killed else "the reader failed") + ")"
    if "reason" in found:
        return str(found["reason"])
    return Article(
        article_id=article_id,
        title=found["title"] if _meaningful(found["title"]) else fallback_title,
        paragraphs=tuple(text for _, text in found["paragraphs"]),
        date=_iso_date(found["date"]),
        author=found["author"] or None,
        pages=tuple(page for page, _ in found["paragraphs"]),
    )


def _limits() -> dict[str, float]:
    """The caps, handed to the child (so they are the parent's, as set now)."""
    return {
        name: globals()[name] for name in ("MAX_PAGES", "MAX_PARAGRAPHS", "MAX_CHARS", "MAX_SECONDS", "MEMORY_BYTES")
    }


def _child() -> None:
    """The child's side: PDF bytes on stdin, one JSON object on stdout, within MEMORY_BYTES and MAX_SECONDS."""
    import resource

    globals().update(json.loads(sys.argv[1]))
    resource.setrlimit(resource.RLIMIT_AS, (int(MEMORY_BYTES), int(MEMORY_BYTES)))
    seconds = max(1, int(MAX_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    data = sys.stdin.buffer.read()
    try:
        found: dict[str, Any] = _read(data)
    except _Unreadable as reason:
        found = {"reason": str(reason)}
    except Exception as exc:  # parsers raise anything on hostile input, RecursionError and MemoryError included
        found = {"reason": f"not a readable PDF ({_describe(exc)})"}
    sys.stdout.write(json.dumps(found))


def _describe(exc: BaseException) -> str:
    message = " ".join(str(exc).split())[:80]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _read(data: bytes) -> dict[str, Any]:
    if not data.strip():
        raise _Unreadable("not a readable PDF (empty file)")
    if b"%PDF-" not in data[:1024]:
        raise _Unreadable("not a readable PDF (no %PDF header)")
    document = _open(data)
    info = _info(document)
    found = _paragraphs(_pages(document))
    if not found:
        return {"reason": NO_TEXT_LAYER}
    return {
        "title": info.get("Title", ""),
        "author": info.get("Author", ""),
        "date": info.get("CreationDate", ""),
        "paragraphs": found,
    }


def _open(data: bytes) -> PDFDocument:
    """The parsed document, opened with the empty password many "protected" PDFs use."""
    try:
        return PDFDocument(PDFParser(io.BytesIO(data)), password="")
    except PDFPasswordIncorrect:
        raise _Unreadable(NEEDS_PASSWORD) from None
    except PDFEncryptionError as exc:
        raise _Unreadable(f"encrypted PDF that cannot be opened ({_describe(exc)})") from None


# --- metadata ---


def _info(document: PDFDocument) -> dict[str, str]:
    """Title, Author and CreationDate as text; the newest trailer's Info dictionary comes first and wins."""
    found: dict[str, str] = {}
    for info in document.info:
        for key in ("Title", "Author", "CreationDate"):
            if key not in found and (text := _text(info.get(key))):
                found[key] = text
    return found


def _text(value: Any) -> str:
    value = resolve1(value)
    if isinstance(value, bytes):
        value = value[3:].decode("utf-8", "replace") if value.startswith(b"\xef\xbb\xbf") else decode_text(value)
    return " ".join(_clean(value).replace("\u00ad", "").split()) if isinstance(value, str) else ""


def _meaningful(title: str) -> bool:
    """Writers fill /Title with "Untitled" or the source file's name; neither names the article."""
    return bool(title) and not _FILE_NAME.search(title)


def _iso_date(value: str) -> str | None:
    match = re.match(r"(?:D:)?\s*(\d{4})(\d{2})(\d{2})", value)
    if not match:
        return None
    try:
        return date(*map(int, match.groups())).isoformat()
    except ValueError:
        return None


# --- pages and lines ---


def _pages(document: PDFDocument) -> Iterator[tuple[int, list[list[_Line]]]]:
    """Each page's text boxes, as lines, in the order the page draws them; at most MAX_PAGES pages."""
    resources = PDFResourceManager(caching=True)
    device = PDFPageAggregator(resources, laparams=None)  # raw characters first, to learn their drawing order
    interpreter = PDFPageInterpreter(resources, device)
    for number, page in enumerate(PDFPage.create_pages(document), 1):
        if number > MAX_PAGES:
            return
        interpreter.process_page(page)
        layout = device.get_result()
        drawn = {id(char): i for i, char in enumerate(_chars(layout))}
        layout.analyze(LAParams(**_LAYOUT))
        boxes = sorted(_boxes(layout), key=lambda box: _drawn_at(box, drawn))
        yield number, [[_line(line) for line in box if isinstance(line, LTTextLine)] for box in boxes]


def _chars(container: LTPage | LTFigure) -> Iterator[LTChar]:
    return _within(container, LTChar)


def _boxes(container: LTPage | LTFigure) -> Iterator[LTTextBox]:
    return _within(container, LTTextBox)


def _within(container: LTPage | LTFigure, kind: type[_Item]) -> Iterator[_Item]:
    """The items of ``kind`` on a page, those drawn inside figures (form XObjects) included."""
    for item in container:
        if isinstance(item, kind):
            yield item
        elif isinstance(item, LTFigure):
            yield from _within(item, kind)


def _drawn_at(box: LTTextBox, drawn: dict[int, int]) -> int:
    first = next((line for line in box if isinstance(line, LTTextLine)), [])
    return min((drawn.get(id(item), len(drawn)) for item in first), default=len(drawn))


def _line(line: LTTextLine) -> _Line:
    return _Line(_clean(line.get_text()), line.x0, line.x1, line.y0, line.height)


def _clean(text: str) -> str:
    """Ligatures spelled out; undecodable glyphs ("(cid:12)") and lone surrogates, which no database holds, dropped."""
    return _JUNK.sub("", text.translate(_LIGATURES)).strip()


# --- paragraphs ---


def _paragraphs(pages: Iterable[tuple[int, list[list[_Line]]]]) -> list[tuple[int, str]]:
    """(start page, text) per paragraph, within MAX_PARAGRAPHS and MAX_CHARS."""
    found: list[_Paragraph] = []
    chars = 0
    for number, boxes in pages:
        for lines in _split_page(boxes):
            found.append(_Paragraph(number, [line.text for line in lines]))
            chars += sum(len(line.text) for line in lines)
        if len(found) > MAX_PARAGRAPHS or chars > MAX_CHARS:
            break  # enough for the caps; later pages would be thrown away
    kept = _run_on([p for p in found if not _page_number(p)])
    vocabulary = {word.lower() for p in kept for line in p.lines for word in _WORDS.findall(line)}
    return _capped([(p.page, _join(p.lines, vocabulary)) for p in kept])


def _split_page(boxes: list[list[_Line]]) -> Iterator[list[_Line]]:
    """Paragraphs from a page's lines in box order; box edges alone do not split (pdfminer cuts at every indent)."""
    lines = [line for box in boxes for line in box if line.text]
    spacing = _usual_spacing(lines)
    start = 0
    for i in range(1, len(lines)):
        if _starts_paragraph(lines, i, spacing, lines[start].text):
            yield lines[start:i]
            start = i
    if lines:
        yield lines[start:]


def _flows(above: _Line, below: _Line) -> bool:
    """``below`` is the next line of the same column: lower on the page and overlapping it sideways."""
    return below.y0 < above.y0 and below.x0 < above.x1 and above.x0 < below.x1


def _spacing(above: _Line, below: _Line) -> float:
    return (above.y0 - below.y0) / max(above.height, below.height, 1e-6)


def _usual_spacing(lines: list[_Line]) -> float:
    """The page's line spacing inside a paragraph, in line heights.

    A low quantile rather than the median: in news copy of two-line paragraphs half the gaps are paragraph gaps.
    """
    ratios = sorted(_spacing(a, b) for a, b in pairwise(lines) if _flows(a, b))
    return ratios[len(ratios) // 4] if ratios else 0.0


def _starts_paragraph(lines: list[_Line], i: int, spacing: float, first: str) -> bool:
    line, above = lines[i], lines[i - 1]
    if not _flows(above, line) or _spacing(above, line) > spacing + _EXTRA_GAP or _BULLET.match(line.text):
        return True
    indent = line.height * _INDENT
    if _BULLET.match(first) or line.x0 < above.x0 + indent:
        return False
    below = lines[i + 1] if i + 1 < len(lines) else None
    return below is None or not _flows(line, below) or below.x0 < line.x0 - indent


def _page_number(paragraph: _Paragraph) -> bool:
    return len(paragraph.lines) == 1 and bool(_PAGE_NUMBER.fullmatch(paragraph.lines[0]))


def _run_on(paragraphs: list[_Paragraph]) -> list[_Paragraph]:
    """Rejoin a sentence cut by a page or column break: no sentence end, then a lowercase start."""
    joined: list[_Paragraph] = []
    for paragraph in paragraphs:
        last = joined[-1].lines[-1] if joined else ""
        if last and not _SENTENCE_END.search(last) and paragraph.lines[0][:1].islower():
            joined[-1].lines.extend(paragraph.lines)
        else:
            joined.append(paragraph)
    return joined


def _join(lines: list[str], vocabulary: set[str]) -> str:
    pieces = [lines[0]]
    for above, line in pairwise(lines):
        joint = _joint(above, line, vocabulary)
        if joint is None:
            pieces[-1] = pieces[-1][:-1]  # the hyphen that split a word
        pieces.append(f"{joint or ''}{line}")
    return " ".join("".join(pieces).replace("\u00ad", "").split())


def _joint(above: str, line: str, vocabulary: set[str]) -> str | None:
    """What goes between two lines: a space, nothing after a kept hyphen, or None to drop a word-splitting hyphen."""
    if above.endswith("\u00ad"):
        return ""  # a soft hyphen is removed with the others
    split = _LINE_END_HYPHEN.search(above[-64:]) if above.endswith(("-", "‐")) else None  # no backtracking
    after = _FIRST_WORD.match(line)
    if not split or not after:
        return " "  # no word before the hyphen ("the war -") or after it
    before, left = split.groups()
    if before in ("-", "‐"):
        return ""  # "street-by-" continues a compound
    return None if _drop_hyphen(left, after.group(), vocabulary) else ""


def _drop_hyphen(left: str, right: str, vocabulary: set[str]) -> bool:
    if not (left.isalpha() and right.isalpha()):
        return False  # "COVID-19", "3-4"
    if f"{left}-{right}".lower() in vocabulary:
        return False
    if f"{left}{right}".lower() in vocabulary:
        return True
    return left[0].islower() and left[-1].islower() and right[0].islower()


def _capped(paragraphs: list[tuple[int, str]]) -> list[tuple[int, str]]:
    kept: list[tuple[int, str]] = []
    budget = MAX_CHARS
    for page, text in paragraphs[:MAX_PARAGRAPHS]:
        if not text:
            continue
        if len(text) > budget:
            text = text[:budget].rsplit(" ", 1)[0] if " " in text[:budget] else text[:budget]
            if text:
                kept.append((page, text))
            break
        kept.append((page, text))
        budget -= len(text)
    return kept


if __name__ == "__main__":
    _child()
