"""Replies as Telegram HTML messages: escaped, balanced, and never over Telegram's limit.

A reply is built from blocks (a quote, a citation line, a sentence of prose). Blocks are
packed into messages of at most 4096 UTF-16 code units, counting the markup too, so the
visible text is always within the limit; a message is only ever split between blocks, and a
block too long for one message is cut at spaces into pieces that each carry their own tags.
"""

from __future__ import annotations

import hashlib
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from html import escape

from bot.conversation import AboutReply, AnswerReply, HelpReply, ProblemReply, Reply, SourcesReply
from bot.render import LOW_CONFIDENCE, count
from retrieval import ArticleInfo, Citation, Quote

LIMIT = 4096
MAX_ARTICLES_LISTED = 30


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
    """Join blocks with newlines into as few messages as fit, splitting only between blocks."""
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
    if current:
        messages.append(current)
    return messages


def _fit(block: Block, limit: int) -> list[str]:
    """The block as one HTML piece, or several if it alone exceeds ``limit``."""
    whole = block.html()
    if utf16_len(whole) <= limit:
        return [whole]
    budget = limit - utf16_len(block.open) - utf16_len(block.close)
    pieces, words, current = [], block.text.split(" "), ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if utf16_len(escape(candidate, quote=False)) <= budget:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while utf16_len(escape(word, quote=False)) > budget:  # one enormous "word"
            cut = _longest_prefix(word, budget)
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


def citation_html(c: Citation) -> str:
    title = escape(c.title if len(c.title) <= 200 else c.title[:199] + "…", quote=False)
    if c.url and c.url.startswith(("http://", "https://")):
        title = f'<a href="{escape(c.url, quote=True)}">{title}</a>'
    date = f", {escape(c.date, quote=False)}" if c.date else ""
    return f"— <i>{title}</i>{date}, paragraph {c.paragraph}"


def _quote_blocks(quote: Quote) -> list[Block]:
    return [Block(quote.text, "<blockquote>", "</blockquote>"), Block("", citation_html(quote.citation))]


def _article_blocks(articles: tuple[ArticleInfo, ...]) -> list[Block]:
    blocks = [Block(f"{count(len(articles), 'article')}:", "<b>", "</b>")]
    for a in articles[:MAX_ARTICLES_LISTED]:
        detail = ", ".join(x for x in (a.date, count(a.paragraphs, "paragraph")) if x)
        blocks.append(Block(f"• {a.title} ({detail})"))
    if len(articles) > MAX_ARTICLES_LISTED:
        blocks.append(Block(f"… and {len(articles) - MAX_ARTICLES_LISTED:,} more"))
    return blocks


def reply_html(reply: Reply) -> list[str]:
    """The messages (Telegram HTML) that render ``reply``."""
    return pack(reply_blocks(reply))


def reply_blocks(reply: Reply) -> list[Block]:
    if isinstance(reply, AnswerReply):
        answer = reply.answer
        if answer.answered:
            blocks = [b for q in answer.quotes for b in _quote_blocks(q)]
            if answer.confidence < LOW_CONFIDENCE:
                blocks.append(
                    Block(f"Low confidence ({answer.confidence:.2f}): this may not answer it.", "<i>", "</i>")
                )
            return blocks
        blocks = [Block("The articles don't answer that.", "<b>", "</b>")]
        if answer.closest:
            blocks += [Block("Closest match:"), *_quote_blocks(answer.closest)]
        return blocks
    if isinstance(reply, ProblemReply):
        return [Block(reply.message)]
    if isinstance(reply, HelpReply):
        return [
            Block("I answer questions about these articles by quoting them, with a citation for each quote."),
            Block(""),
            *_article_blocks(reply.articles),
            Block(""),
            Block("Ask in your own words, for example:"),
            *(Block(q, "<code>", "</code>") for q in reply.examples),
            Block(""),
            Block(
                "/sources lists the articles, /about describes the index. In groups, mention me, reply to me, "
                "or use /ask."
            ),
        ]
    if isinstance(reply, SourcesReply):
        return _article_blocks(reply.articles)
    if isinstance(reply, AboutReply):
        i = reply.info
        return [
            Block(f"Model: {i.model} ({i.dimension}-dimensional)"),
            Block(f"Index: {count(i.articles, 'article')}, {count(i.passages, 'passage')}, {i.index_type} search"),
            Block(f"Built: {i.built_at}"),
        ]
    raise TypeError(f"unknown reply {reply!r}")


def paragraph_html(citation: Citation, paragraph: str) -> list[str]:
    """The whole paragraph a quote comes from, with its citation."""
    return pack([Block(paragraph, "<blockquote>", "</blockquote>"), Block("", citation_html(citation))])


def article_key(article_id: str) -> str:
    """A short, stable key for an article id, so callback data fits Telegram's 64 bytes."""
    return urlsafe_b64encode(hashlib.blake2b(article_id.encode(), digest_size=6).digest()).decode()
