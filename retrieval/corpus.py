"""Reading articles from files and folders.

Formats (documented in README):
- ``.txt`` / ``.md``: paragraphs are separated by blank lines. A leading Markdown heading
  (``# Title``) is the title, else the file name. A leading dateline such as
  ``date 2022-06-07 KYIV:`` gives the date and place and is not part of the quoted text.
- ``.jsonl``: one article per line, ``{"id", "title", "paragraphs": [...]}`` or
  ``{"id", "title", "text"}``, optional ``date``, ``url``, ``source``.
- ``.html`` / ``.htm``: a saved web page; the article body only (``webpage.py``).
- ``.pdf``: text paragraphs with the page each starts on (``pdf.py``).
- ``http(s)://`` links: fetched (``fetch.py``) and read as the page, PDF or text they turn out to be.

A file that cannot be read is skipped with a warning, never fatal: one bad file must not
stop the rest of a collection from being indexed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from retrieval.errors import CorpusError
from retrieval.fetch import FetchError, fetch, is_url
from retrieval.records import Article

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUFFIXES = TEXT_SUFFIXES | JSONL_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
KINDS = ".txt, .md, .jsonl, .html or .pdf"
MAX_FILE_BYTES = 64 * 1024 * 1024
# A "paragraph" this long is data, not prose (a dump, a minified file): splitting and
# embedding it would take minutes for nothing a person could be quoted. It keeps its number
# (so later citations stay right) but is not indexed.
MAX_PARAGRAPH_CHARS = 200_000

_DATELINE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s+([^:\n]{1,80}?)\s*:\s*", re.IGNORECASE)
_HEADING = re.compile(r"#\s+")  # an ATX heading's opening; its closing #s are taken off by _heading
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")
_SPACES = re.compile(r"\s+")
_DATE_IN_NAME = re.compile(r"[-_ ]?(\d{4}-\d{2}-\d{2})$")
# Control characters and bidirectional overrides: in a title they are never meant, and U+202E
# ("right-to-left override") lets a file named "report<U+202E>fdp.exe" show as "reportexe.pdf".
_UNSHOWN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]+")


@dataclass
class Corpus:
    """Articles read from some paths, with one warning per file or line that was skipped."""

    articles: list[Article] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def bundled_corpus() -> Path:
    """The article shipped with citebot, so a fresh install answers with no set-up."""
    return Path(str(resources.files("retrieval") / "bundled"))


def read_corpus(paths: Sequence[Path | str]) -> Corpus:
    """Read every article under ``paths`` (files, folders or http(s) links), in a stable order."""
    corpus = Corpus()
    seen: set[str] = set()
    for source in paths:
        if isinstance(source, str) and is_url(source):
            found = [(source, article) for article in read_link(source, corpus.warnings)]
        else:
            root = Path(source)
            if not root.exists():
                raise CorpusError(f"{root}: no such file or folder")
            found = [
                (str(path), article)
                for path, article_base in _files(root, corpus.warnings)
                for article in _read_file(path, article_base, corpus.warnings)
            ]
        for where, article in found:
            if article.article_id in seen:
                corpus.warnings.append(f"{where}: duplicate article id {article.article_id!r}, skipped")
                continue
            seen.add(article.article_id)
            corpus.articles.append(article)
    return corpus


def read_link(url: str, warnings: list[str]) -> list[Article]:
    """The article at ``url`` (fetched now), or nothing with a warning saying why."""
    try:
        fetched = fetch(url)
    except FetchError as exc:
        warnings.append(f"{exc}, skipped")
        return []
    parts = urlsplit(fetched.url)
    article_id = f"{parts.hostname}{parts.path}".rstrip("/") or str(parts.hostname)
    name = PurePosixPath(parts.path).stem or str(parts.hostname)
    return read_document(fetched.data, fetched.kind, article_id, name, url, warnings, url=fetched.url)


def read_document(
    data: bytes, kind: str, article_id: str, name: str, where: str, warnings: list[str], *, url: str | None = None
) -> list[Article]:
    """One document's bytes as articles: ``kind`` is its suffix (``.html``, ``.pdf``, ``.txt``, ...).

    Files, links and chat uploads all come through here, so each format is read one way.
    ``name`` (a file name without suffix) titles an article that names no title itself.
    """
    fallback = _title_from_name(name)
    if kind in HTML_SUFFIXES:
        from retrieval.webpage import read_html  # trafilatura loads slowly; only when a page is read

        found: Article | str = read_html(data, article_id=article_id, fallback_title=fallback, url=url)
    elif kind in PDF_SUFFIXES:
        from retrieval.pdf import read_pdf

        found = read_pdf(data, article_id=article_id, fallback_title=fallback)
    else:
        text = _decoded(data, where, warnings)
        if text is None:
            return []
        if kind in JSONL_SUFFIXES:
            return [_without_huge_paragraphs(a, warnings) for a in _read_jsonl(where, text, warnings)]
        found = parse_text_article(text, article_id=article_id, fallback_title=fallback)
    if isinstance(found, str):
        warnings.append(f"{where}: {_skipped(found)}")
        return []
    found = replace(found, title=clean_title(found.title) or clean_title(fallback) or article_id)
    if url and not found.url:  # fetched: cite where it came from (a page's own canonical link wins)
        found = replace(found, url=url)
    if not any(p.strip() for p in found.paragraphs):
        warnings.append(f"{where}: no text, skipped")
        return []
    if not _encodable(found):
        warnings.append(f"{where}: text that is not valid Unicode, skipped")
        return []
    return [_without_huge_paragraphs(replace(found, origin=where), warnings)]


def _skipped(reason: str) -> str:
    reason = reason.strip().rstrip(".")
    return reason if reason.endswith("skipped") else f"{reason}, skipped"


def _without_huge_paragraphs(article: Article, warnings: list[str]) -> Article:
    if all(len(p) <= MAX_PARAGRAPH_CHARS for p in article.paragraphs):
        return article
    kept = []
    for number, paragraph in enumerate(article.paragraphs, 1):
        if len(paragraph) > MAX_PARAGRAPH_CHARS:
            warnings.append(
                f"{article.origin}: paragraph {number} has {len(paragraph):,} characters "
                f"(limit {MAX_PARAGRAPH_CHARS:,}), not indexed"
            )
            paragraph = ""
        kept.append(paragraph)
    return replace(article, paragraphs=tuple(kept))


def _files(root: Path, warnings: list[str]) -> Iterator[tuple[Path, str]]:
    """Article files under ``root`` with their ids' base (path relative to root, no suffix).

    Walks with an explicit stack (no recursion limit on deep trees) and does not follow
    symlinked folders (no endless loops). A symlinked file is read only if it points inside
    ``root``: a link to ``../.env`` must not put a secret into the index.
    """
    if not root.is_dir():
        if root.suffix.lower() not in SUFFIXES:
            warnings.append(f"{root}: not a {KINDS} file, skipped")
            return
        yield Path(os.path.realpath(root)), root.stem  # named by the operator: followed if a link
        return
    real_root = os.path.realpath(root)
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            warnings.append(f"{folder}: cannot list ({exc.strerror or exc}), skipped")
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(Path(entry.path))
                continue
            named_as_article = Path(entry.name).suffix.lower() in SUFFIXES
            if not entry.is_file():
                if not entry.is_symlink() or named_as_article:  # a FIFO, socket or device; or a dangling link
                    warnings.append(f"{entry.path}: not a regular file, skipped")
                continue
            if not named_as_article:
                continue
            path = Path(entry.path)
            article_base = path.relative_to(root).with_suffix("").as_posix()
            if entry.is_symlink():
                # read the target it resolves to now (opened without following links), so
                # retargeting the link after this check cannot redirect the read
                target = os.path.realpath(path)
                if not _inside(target, real_root):
                    warnings.append(f"{path}: a link to a file outside {root}, skipped")
                    continue
                path = Path(target)
            yield path, article_base
        stack.extend(reversed(subfolders))  # visit subfolders in name order


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def _read_bytes(path: Path, warnings: list[str]) -> bytes | None:
    """The file's bytes, or None (with a warning) for anything that is not a readable regular file.

    A checked file can be swapped before it is read, so the checks run on the open descriptor:
    opened without following links, non-blocking (a FIFO cannot hang the build), and at most
    the size cap is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        reason = "it became a link after it was listed" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        warnings.append(f"{path}: cannot read ({reason}), skipped")
        return None
    with os.fdopen(fd, "rb") as fh:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                warnings.append(f"{path}: not a regular file, skipped")
                return None
            data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            warnings.append(f"{path}: cannot read ({exc.strerror or exc}), skipped")
            return None
    if len(data) > MAX_FILE_BYTES:
        warnings.append(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB, skipped")
        return None
    return data


def _decoded(data: bytes, where: str, warnings: list[str]) -> str | None:
    if b"\0" in data:
        warnings.append(f"{where}: binary file, skipped")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        warnings.append(f"{where}: not UTF-8 text (byte {exc.start}), skipped")
        return None


def _read_file(path: Path, article_id: str, warnings: list[str]) -> list[Article]:
    data = _read_bytes(path, warnings)
    if data is None:
        return []
    return read_document(data, path.suffix.lower(), article_id, path.stem, str(path), warnings)


def clean_title(title: str) -> str:
    """A title as it may be shown and cited: one line, without control or bidirectional-override characters."""
    return " ".join(_UNSHOWN.sub(" ", title).split())


def _title_from_name(stem: str) -> str:
    stem = _DATE_IN_NAME.sub("", stem) or stem
    words = re.sub(r"[-_]+", " ", stem).strip()
    return words[:1].upper() + words[1:] if words else stem


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each unwrapped onto one line (the words are unchanged)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = (_SPACES.sub(" ", block).strip() for block in _BLANK_LINES.split(text))
    return [b for b in blocks if b]


def post_article(text: str, *, article_id: str, date: str | None = None, url: str | None = None) -> Article | None:
    """A short post (a forwarded channel message) as an article: its first line is the title.

    Posts separate paragraphs with single line breaks, so each non-empty line is a paragraph;
    the first line is also the only paragraph of a one-line post.
    """
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        return None
    first = clean_title(lines[0]) or "Post"
    title = first if len(first) <= 120 else first[:119].rstrip() + "…"
    body = lines[1:] or lines
    return Article(article_id=article_id, title=title, paragraphs=tuple(body), date=date, url=url)


def parse_text_article(text: str, *, article_id: str, fallback_title: str) -> Article:
    """Parse a .txt/.md article: optional ``# Title`` heading, optional leading dateline."""
    paragraphs = split_paragraphs(text)
    title = fallback_title
    if paragraphs and (heading := _heading(paragraphs[0])):
        title = heading
        paragraphs = paragraphs[1:]
    date = place = None
    if paragraphs and (dateline := _DATELINE.match(paragraphs[0])):
        date, place = dateline.group(1), dateline.group(2)
        rest = paragraphs[0][dateline.end() :].strip()
        paragraphs = [rest, *paragraphs[1:]] if rest else paragraphs[1:]
    return Article(article_id=article_id, title=title, paragraphs=tuple(paragraphs), date=date, place=place)


def _heading(line: str) -> str | None:
    """The text of a Markdown ``# Title`` line, without a closing run of #s (CommonMark: only after a space).

    By string methods, not one pattern: a lazy title before an optional closing ``#*`` made
    "# a" + 40,000 "#" + "b" take 12 s.
    """
    opening = _HEADING.match(line.lstrip())
    if opening is None:
        return None
    text = line.lstrip()[opening.end() :].rstrip()
    unclosed = text.rstrip("#")
    if unclosed != text and (not unclosed or unclosed[-1].isspace()):
        text = unclosed.rstrip()
    return text or None


def _read_jsonl(path: str, text: str, warnings: list[str]) -> Iterator[Article]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            warnings.append(f"{where}: not valid JSON, skipped")
            continue
        if not isinstance(record, dict):
            warnings.append(f"{where}: not a JSON object, skipped")
            continue
        article = _article_from_record(record)
        if isinstance(article, Article) and not _encodable(article):
            article = "text with an unpaired surrogate (such as \\ud800), which is not valid Unicode"
        if isinstance(article, str):
            warnings.append(f"{where}: {article}, skipped")
            continue
        yield replace(article, origin=where)


def _encodable(article: Article) -> bool:
    """JSON can spell lone surrogates ("\\ud800") that no UTF-8 file or database can hold."""
    a = article
    fields = (a.article_id, a.title, a.date, a.url, a.source, a.author, *a.paragraphs)
    try:
        for text in fields:
            if text:
                text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _article_from_record(record: dict) -> Article | str:
    """An ``Article`` from one JSONL object, or the reason it is not one."""
    article_id, title = record.get("id"), record.get("title")
    if not isinstance(article_id, (str, int)) or str(article_id).strip() == "":
        return 'missing "id"'
    if not isinstance(title, str) or not clean_title(title):
        return 'missing "title"'
    if "paragraphs" in record:
        paragraphs = record["paragraphs"]
        if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
            return '"paragraphs" must be a list of strings'
        # kept exactly: offsets into them are part of a citation, and entry N stays
        # paragraph N even when another entry is blank
    elif isinstance(record.get("text"), str):
        paragraphs = split_paragraphs(record["text"])
    else:
        return 'needs "paragraphs" (list) or "text" (string)'
    if not any(p.strip() for p in paragraphs):
        return "no text"
    optional = {k: record[k] for k in ("date", "url", "source") if isinstance(record.get(k), str)}
    return Article(article_id=str(article_id), title=clean_title(title), paragraphs=tuple(paragraphs), **optional)
