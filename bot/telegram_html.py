"""Replies as Telegram HTML messages: escaped, balanced, and never over Telegram's limit.

A reply is built from blocks (a quote, a citation line, a sentence of prose). Blocks are
packed into messages of at most 4096 UTF-16 code units, counting the markup too, so the
visible text is always within the limit; a message is only ever split between blocks, and a
block too long for one message is cut at spaces into pieces that each carry their own tags.
citebot's own words are in the reply's ``lang``; the articles' words are never translated.
"""

from __future__ import annotations

import hashlib
import re
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from html import escape

from bot.conversation import AboutReply, AnswerReply, HelpReply, NoticeReply, ProblemReply, Reply, SourcesReply
from bot.i18n import DEFAULT, Words, words
from bot.render import LOW_CONFIDENCE, articles, page_label, paragraph_label, paragraphs
from retrieval import Answer, ArticleInfo, Citation, Quote

LIMIT = 4096
MAX_ARTICLES_LISTED = 30
# Article metadata is untrusted: bounded so a citation always fits well inside one message.
MAX_TITLE, MAX_DATE, MAX_HREF = 200, 40, 2048  # characters; MAX_HREF in escaped UTF-16 units
# Below this many units of room, a block's text cannot make progress inside its markup (one
# escaped character can take 5 units), so the block is sent without its markup instead.
MIN_ROOM = 16
PARAGRAPH_MESSAGES = 3  # a "Whole paragraph" reply is at most this many messages
_TAG = re.compile(r"<[^>]*>")
_UNSAFE_URL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"<>]")


@dataclass(frozen=True)
class Block:
    """``open`` + escaped ``text`` + ``close``: the unit messages are split between."""

    text: str
    open: str = ""
    close: str = ""

    def html(self, text: str | None = None) -> str:
        return f"{self.open}{escape(self.text if text is None else text, quote=False)}{self.close}"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def pack(blocks: list[Block], limit: int = LIMIT) -> list[str]:
    """Join blocks with newlines into as few messages as fit, splitting only between blocks.

    Every message is at most ``limit`` units and shows some text: Telegram refuses empty ones.
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        for piece in _fit(block, limit):
            candidate = f"{current}\n{piece}" if current else piece
            if utf16_len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    messages.append(current)
    return [m for m in messages if _visible(m).strip()]


def _visible(html: str) -> str:
    return _TAG.sub("", html)


def _fit(block: Block, limit: int) -> list[str]:
    """The block as one HTML piece, or several if it alone exceeds ``limit``; each fits ``limit``."""
    whole = block.html()
    if utf16_len(whole) <= limit:
        return [whole]
    budget = limit - utf16_len(block.open) - utf16_len(block.close)
    if budget < MIN_ROOM:  # the markup alone (nearly) fills a message: keep the words, drop the markup
        return _fit(Block(block.text), limit) if block.text and (block.open or block.close) else []
    pieces, current = [], ""
    for word in block.text.split(" "):
        candidate = f"{current} {word}" if current else word
        if utf16_len(escape(candidate, quote=False)) <= budget:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while utf16_len(escape(word, quote=False)) > budget:  # one enormous "word"
            cut = _longest_prefix(word, budget)  # >= 1: budget holds any one escaped character
            pieces.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        pieces.append(current)
    return [block.html(p) for p in pieces]


def _longest_prefix(word: str, budget: int) -> int:
    lo, hi = 1, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if utf16_len(escape(word[:mid], quote=False)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def citation_html(c: Citation, lang: str = DEFAULT) -> str:
    """``— <i>Title</i>, date, page P, paragraph N``, the title linked when the article has a usable URL.

    Title, date and URL come from article files, so each is bounded: a link that would not fit
    is dropped rather than allowed to crowd the citation out of its message.
    """
    t = words(lang)
    title = _linked_title(c.title, c.url)
    date = f", {escape(_shorten(c.date, MAX_DATE), quote=False)}" if c.date else ""
    page = f", {escape(page_label(t, c.page), quote=False)}" if c.page else ""
    return f"— <i>{title}</i>{date}{page}, {escape(paragraph_label(t, c.paragraph), quote=False)}"


def _linked_title(title: str, url: str | None) -> str:
    """The escaped, bounded title, linked to ``url`` when that is a usable http(s) link."""
    shown = escape(_shorten(title, MAX_TITLE), quote=False)
    href = _href(url)
    return f'<a href="{href}">{shown}</a>' if href else shown


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _href(url: str | None) -> str | None:
    """The escaped URL for an ``href``, or None for anything but a short, plain http(s) URL."""
    if not url or not url.startswith(("http://", "https://")) or _UNSAFE_URL.search(url):
        return None
    href = escape(url, quote=True)
    return href if utf16_len(href) <= MAX_HREF else None


def _quote_blocks(quote: Quote, lang: str) -> list[Block]:
    return [Block(quote.text, "<blockquote>", "</blockquote>"), Block("", citation_html(quote.citation, lang))]


def _article_blocks(shelf: tuple[ArticleInfo, ...], t: Words) -> list[Block]:
    blocks = [Block(f"{articles(t, len(shelf))}:", "<b>", "</b>")]
    for a in shelf[:MAX_ARTICLES_LISTED]:
        blocks.append(Block(f"• {a.title} ({_detail(a, t)})"))
    if len(shelf) > MAX_ARTICLES_LISTED:
        blocks.append(Block(t._("… and {count} more", count=len(shelf) - MAX_ARTICLES_LISTED)))
    return blocks


def _detail(a: ArticleInfo, t: Words) -> str:
    return ", ".join(x for x in (a.date, paragraphs(t, a.paragraphs)) if x)


def _added_blocks(added: tuple[ArticleInfo, ...], t: Words) -> list[Block]:
    """This chat's own documents, numbered as /remove takes them, titles linked to their pages."""
    if not added:
        return []
    blocks = [Block(""), Block(t._("Added in this chat ({count}):", count=len(added)), "<b>", "</b>")]
    for n, a in enumerate(added, 1):
        blocks.append(Block(f" ({_detail(a, t)})", f"{n}. {_linked_title(a.title, a.url)}"))
    return blocks


def reply_html(reply: Reply) -> list[str]:
    """The messages (Telegram HTML) that render ``reply``."""
    return pack(reply_blocks(reply))


def reply_blocks(reply: Reply) -> list[Block]:
    t = words(reply.lang)
    if isinstance(reply, AnswerReply):
        answer = reply.answer
        reading = (
            [Block(t._("Reading this as: {reading}", reading=_shorten(reply.reading, 300)), "<i>", "</i>")]
            if reply.reading
            else []
        )
        return reading + _answer_blocks(answer, t)
    if isinstance(reply, ProblemReply | NoticeReply):
        return [Block(reply.message)]
    return _other_blocks(reply, t)


def _answer_blocks(answer: Answer, t: Words) -> list[Block]:
    if answer.answered:
        blocks = [b for q in answer.quotes for b in _quote_blocks(q, t.lang)]
        if answer.confidence < LOW_CONFIDENCE:
            confidence = t.decimal(answer.confidence)
            note = t._("Low confidence ({confidence}): this may not answer it.", confidence=confidence)
            blocks.append(Block(note, "<i>", "</i>"))
        return blocks
    blocks = [Block(t._("The articles don't answer that."), "<b>", "</b>")]
    if answer.closest:
        blocks += [Block(t._("Closest match:")), *_quote_blocks(answer.closest, t.lang)]
    return blocks


def _other_blocks(reply: Reply, t: Words) -> list[Block]:
    if isinstance(reply, HelpReply):
        return [
            Block(t._("I answer questions about these articles by quoting them, with a citation for each quote.")),
            Block(""),
            *_article_blocks(reply.articles, t),
            Block(""),
            Block(t._("Ask in your own words, for example:")),
            *(Block(q, "<code>", "</code>") for q in reply.examples),
            Block(""),
            Block(
                t._(
                    "Follow-up questions (“What did he say?”) are read with your last few; /new starts afresh. "
                    "/sources lists the articles, /about describes the index. In groups, mention me, reply to me, "
                    "or use /ask."
                )
            ),
        ]
    if isinstance(reply, SourcesReply):
        return _article_blocks(reply.articles, t) + _added_blocks(reply.added, t)
    if isinstance(reply, AboutReply):
        i = reply.info
        passages = t.ngettext("{n} passage", "{n} passages", i.passages)
        return [
            Block(t._("Model: {model} ({dimension}-dimensional)", model=i.model, dimension=i.dimension)),
            Block(
                t._(
                    "Index: {articles}, {passages}, {index_type} search",
                    articles=articles(t, i.articles),
                    passages=passages,
                    index_type=i.index_type,
                )
            ),
            Block(t._("Built: {built_at}", built_at=i.built_at)),
        ]
    raise TypeError(f"unknown reply {reply!r}")


def paragraph_html(
    citation: Citation, paragraph: str, max_messages: int = PARAGRAPH_MESSAGES, *, lang: str = DEFAULT
) -> list[str]:
    """The whole paragraph a quote comes from, with its citation, in at most ``max_messages``.

    A longer paragraph is cut at a word and ends with "…": a press of a button must not turn
    into dozens of messages.
    """

    def render(text: str) -> list[str]:
        return pack([Block(text, "<blockquote>", "</blockquote>"), Block("", citation_html(citation, lang))])

    messages = render(paragraph)
    cut = min(len(paragraph), max_messages * LIMIT)
    while len(messages) > max_messages and cut > 1:  # shrinks by a tenth each time: bounded
        cut = int(cut * 0.9)
        head = paragraph[:cut]
        head = head.rsplit(" ", 1)[0] if " " in head[cut // 2 :] else head
        messages = render(head.rstrip() + " …")
    return messages


def article_key(article_id: str) -> str:
    """A short, stable key for an article id, so callback data fits Telegram's 64 bytes."""
    return urlsafe_b64encode(hashlib.blake2b(article_id.encode(), digest_size=6).digest()).decode()
