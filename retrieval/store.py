"""The SQLite half of an index: articles, paragraphs, passages, sentences and FTS5 tables.

Passage ids are rows of the FAISS index and sentence ids are rows of the sentence-vector
array, so each table is written once, in order, by one build and never updated after.
The FTS5 tables are contentless: the text lives once, in ``paragraphs``.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.records import Article, ArticleInfo, Passage

TOKENIZER = "porter unicode61 remove_diacritics 2"

SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    date TEXT, place TEXT, url TEXT, source TEXT, author TEXT, digest TEXT NOT NULL, paragraphs INTEGER NOT NULL);
CREATE TABLE paragraphs (
    id INTEGER PRIMARY KEY, article INTEGER NOT NULL REFERENCES articles(id),
    number INTEGER NOT NULL, text TEXT NOT NULL, page INTEGER, UNIQUE (article, number));
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, paragraph INTEGER NOT NULL REFERENCES paragraphs(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, paragraph INTEGER NOT NULL REFERENCES paragraphs(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL);
CREATE INDEX sentences_by_paragraph ON sentences (paragraph, start);
CREATE VIRTUAL TABLE passages_fts USING fts5(text, content='', tokenize='{TOKENIZER}');
CREATE VIRTUAL TABLE passages_vocab USING fts5vocab(passages_fts, 'row');
"""

# Function words: dropped from FTS queries (a term in every passage costs a scan of every
# posting list and adds nothing to BM25) and from a question's coverage.
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom whose why will with would you your yours yourself
    yourselves
    """.split()
)
# How questions are phrased ("what is X called", "how many", "when did it begin"): still
# searched for, but not counted when asking whether a sentence covers the question's topic,
# since the answering sentence rarely repeats them.
QUESTION_WORDS = frozenset(
    """
    also although among another around became become becomes began begin begun call called
    cannot done either else even ever every get give given go happen happened happens however
    kind known made make makes many may mean means meant might much must name named often one
    per perhaps put rather refer referred said say says see seem several since still take taken
    thing things though thus type upon us use used well whether within without yet
    """.split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


# A BM25 query costs about half a microsecond per posting it visits; on a big index the
# commonest terms of a question are dropped until the rest fit this budget. They add little to
# BM25 (low idf); on small indexes nothing is dropped. At 100k passages 6,000 found the passage
# holding the answer first as often as 12,000 (0.808 vs 0.810, 600 SQuAD questions) in two
# thirds of the time; 4,000 lost 0.017.
POSTINGS_BUDGET = 6_000


def _affordable(query: QueryTerms, wanted: Iterable[str]) -> list[tuple[str, str]]:
    """(term, question word) of ``wanted``, rarest first, while their postings fit ``POSTINGS_BUDGET``.

    The first always counts, whatever it costs; the BM25 query and the coverage lookup share this.
    """
    chosen: list[tuple[str, str]] = []
    postings = 0
    for term in sorted(wanted, key=lambda t: query.df.get(t, 0)):
        word, df = query.words.get(term), query.df.get(term, 0)
        if word is None:
            continue
        if chosen and postings + df > POSTINGS_BUDGET:
            break
        chosen.append((term, word))
        postings += df
    return chosen


def match_query(words: Sequence[str]) -> str | None:
    """An FTS5 OR-query of ``words``, each quoted so that no input is FTS syntax."""
    return " OR ".join(f'"{w}"' for w in words) if words else None


_terms_local = threading.local()
TERMS_CACHE = 4096  # texts: a chat keeps asking about the same articles, so their sentences recur


def terms(texts: Sequence[str]) -> list[Counter[str]]:
    """Each text's index terms (lower-cased, Porter-stemmed) with counts, exactly as FTS5 sees them.

    Runs the texts through the same FTS5 tokenizer in a private in-memory table, so that
    "mayors" in a question and "Mayor" in an article are the same term here as in BM25.
    """
    return [Counter(dict(_terms_of(t))) for t in texts]


@functools.lru_cache(maxsize=TERMS_CACHE)
def _terms_of(text: str) -> tuple[tuple[str, int], ...]:
    """One text's terms; cached, as a question weighs the same sentences as the last one (~0.05 ms each)."""
    db = getattr(_terms_local, "db", None)
    if db is None:
        db = sqlite3.connect(":memory:")
        db.executescript(
            f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{TOKENIZER}', detail=none, content='');"
            "CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');"
        )
        _terms_local.db = db
    with db:
        db.execute("INSERT INTO t(t) VALUES ('delete-all')")  # contentless: clears without reading rows back
        db.execute("INSERT INTO t (rowid, x) VALUES (0, ?)", (text,))
        return tuple(Counter(term for (term,) in db.execute("SELECT term FROM v")).items())


@functools.cache
def stop_terms() -> frozenset[str]:
    """``STOPWORDS`` as index terms."""
    return frozenset().union(*(t.keys() for t in terms(sorted(STOPWORDS))))


@functools.cache
def phrasing_terms() -> frozenset[str]:
    """``QUESTION_WORDS`` as index terms (minus any that are also stop words)."""
    return frozenset().union(*(t.keys() for t in terms(sorted(QUESTION_WORDS)))) - stop_terms()


@dataclass(frozen=True)
class QueryTerms:
    """A question's terms with their rarity (idf) in the index.

    ``idf`` holds every term but stop words; ``content`` leaves out the words questions are
    phrased with ("called", "many"), which answering sentences rarely repeat.
    """

    idf: dict[str, float]
    content: frozenset[str]
    phrasing: frozenset[str]
    words: dict[str, str] = field(default_factory=dict)  # term -> a word of the question that gives it
    df: dict[str, int] = field(default_factory=dict)  # term -> passages holding it

    def coverage(self, text_terms: Collection[str]) -> float:
        """Share of the question's content weight that ``text_terms`` contain (0..1)."""
        total = sum(self.idf[t] for t in self.content)
        return sum(self.idf[t] for t in self.content if t in text_terms) / total if total > 0 else 0.0

    def bm25(self, text_terms: Counter[str], average_length: float, k1: float = 1.2, b: float = 0.75) -> float:
        """Okapi BM25 of one text for the question, with the index's idf."""
        norm = k1 * (1 - b + b * sum(text_terms.values()) / max(average_length, 1.0))
        return sum(w * (tf := text_terms[t]) * (k1 + 1) / (tf + norm) for t, w in self.idf.items() if text_terms[t])


def question_terms(
    question: str, document_frequency: Callable[[Sequence[str]], tuple[dict[str, int], int]]
) -> QueryTerms:
    """A question's terms weighted by rarity in an index (``document_frequency`` asks it how rare)."""
    words = _WORD.findall(question.lower())[:256]
    per_word = terms(words)  # one tokenizer pass: the terms, and which word spells each
    found = set().union(*per_word)
    kept = sorted(found - stop_terms()) or sorted(found)
    if not kept:
        return QueryTerms({}, frozenset(), frozenset())
    df, n = document_frequency(kept)
    idf = {t: math.log((n + 1) / (df.get(t, 0) + 0.5)) for t in kept}
    phrasing = frozenset(kept) & phrasing_terms()
    content = frozenset(kept) - phrasing or frozenset(kept)
    spelled = {t: w for w, stems in zip(words, per_word, strict=True) for t in stems if t in idf}
    return QueryTerms(idf, content, phrasing, spelled, {t: df.get(t, 0) for t in kept})


class StoreWriter:
    """Writes a new store once, in order; used only by a build."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        self._article = 0

    def add_article(self, article: Article, digest: str, ids: Sequence[int]) -> None:
        """Store an article and its paragraphs under the paragraph row ids a build gave them."""
        self._article += 1
        a = article
        row = (
            self._article,
            a.article_id,
            a.title,
            a.date,
            a.place,
            a.url,
            a.source,
            a.author,
            digest,
            len(a.paragraphs),
        )
        self.db.execute("INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?)", row)
        pages = a.pages or (None,) * len(ids)
        self.db.executemany(
            "INSERT INTO paragraphs VALUES (?,?,?,?,?)",
            [
                (pid, self._article, n, text, page)
                for n, (pid, text, page) in enumerate(zip(ids, article.paragraphs, pages, strict=True), 1)
            ],
        )

    def add_passages(self, rows: Iterable[tuple[int, int, int, int, str]]) -> None:
        """Rows of (passage id, paragraph row, start, end, text)."""
        rows = list(rows)
        self.db.executemany("INSERT INTO passages VALUES (?,?,?,?)", [r[:4] for r in rows])
        self.db.executemany("INSERT INTO passages_fts (rowid, text) VALUES (?,?)", [(r[0], r[4]) for r in rows])

    def add_sentences(self, rows: Iterable[tuple[int, int, int, int]]) -> None:
        """Rows of (sentence id, paragraph row, start, end)."""
        self.db.executemany("INSERT INTO sentences VALUES (?,?,?,?)", rows)

    def close(self, meta: dict[str, str]) -> None:
        self.db.executemany("INSERT INTO meta VALUES (?,?)", meta.items())
        self.db.commit()
        self.db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
        self.db.commit()
        self.db.close()


class Store:
    """Read-only access to a built store.

    The file never changes, so it is opened immutable, and each thread gets its own
    connection: the bot answers from worker threads, and a shared connection's cursors
    are not safe to interleave.
    """

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self.db.execute("PRAGMA schema_version")  # open now: a damaged file fails here, not mid-question

    @property
    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            self._local.db = db
            self._connections.append(db)
        return db

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def count(self, table: str) -> int:
        assert table in {"articles", "paragraphs", "passages", "sentences"}
        return self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def article_digests(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT article_id, digest FROM articles"))

    def full_articles(self) -> list[Article]:
        """Every article as it was indexed, in index order: a chat's collection is rebuilt from these."""
        out = []
        for row_id, aid, title, date, place, url, source, author in self.db.execute(
            "SELECT id, article_id, title, date, place, url, source, author FROM articles ORDER BY id"
        ).fetchall():
            rows = self.db.execute(
                "SELECT text, page FROM paragraphs WHERE article = ? ORDER BY number", (row_id,)
            ).fetchall()
            pages = tuple(p for _, p in rows) if rows and all(p is not None for _, p in rows) else None
            paragraphs = tuple(t for t, _ in rows)
            out.append(Article(aid, title, paragraphs, date, place, url, source, author=author, pages=pages))
        return out

    def articles(self) -> list[ArticleInfo]:
        rows = self.db.execute("SELECT article_id, title, date, paragraphs, url FROM articles ORDER BY id")
        return [ArticleInfo(*row) for row in rows]

    def passages(self, ids: Sequence[int]) -> dict[int, Passage]:
        """Passages by id, with their text cut from the paragraph."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"""SELECT s.id, a.article_id, p.number, s.start, s."end", p.text, p.page
                FROM passages s JOIN paragraphs p ON p.id = s.paragraph JOIN articles a ON a.id = p.article
                WHERE s.id IN ({marks})""",
            list(ids),
        )
        return {
            pid: Passage(pid, aid, num, start, end, text[start:end], page)
            for pid, aid, num, start, end, text, page in rows
        }

    def sentences_of(self, passage_ids: Sequence[int]) -> dict[int, list[tuple[int, int, int]]]:
        """For each passage, its sentences as (sentence id, start, end) within the paragraph."""
        if not passage_ids:
            return {}
        marks = ",".join("?" * len(passage_ids))
        rows = self.db.execute(
            f"""SELECT s.id, t.id, t.start, t."end" FROM passages s
                JOIN sentences t ON t.paragraph = s.paragraph AND t.start >= s.start AND t."end" <= s."end"
                WHERE s.id IN ({marks}) ORDER BY s.id, t.start""",
            list(passage_ids),
        )
        out: dict[int, list[tuple[int, int, int]]] = {}
        for pid, sid, start, end in rows:
            out.setdefault(pid, []).append((sid, start, end))
        return out

    def lexical(self, query: QueryTerms, limit: int) -> dict[int, float]:
        """BM25 matches of passages as {passage id: score}, best first; higher is better."""
        fts = self.passage_query(query)
        if not fts:
            return {}
        sql = (
            "SELECT rowid, -bm25(passages_fts) FROM passages_fts WHERE passages_fts MATCH ? ORDER BY bm25(passages_fts)"
        )
        return {int(r): float(s) for r, s in self.db.execute(sql + " LIMIT ?", (fts, limit))}

    def document_frequency(self, stems: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many passages hold each term, and how many passages there are."""
        marks = ",".join("?" * len(stems))
        found = dict(self.db.execute(f"SELECT term, doc FROM passages_vocab WHERE term IN ({marks})", list(stems)))
        return found, self.passage_count

    def passage_query(self, query: QueryTerms) -> str | None:
        """The FTS5 query for a question's terms, rarest first, pruned of the commonest on a big index."""
        return match_query([word for _, word in _affordable(query, query.idf)])

    def query_terms(self, question: str) -> QueryTerms:
        """The question's terms weighted by rarity here; a term the index lacks weighs most."""
        return question_terms(question, self.document_frequency)

    def holding(self, query: QueryTerms, passage_ids: Collection[int]) -> dict[int, set[str]]:
        """Which of the question's content terms each of ``passage_ids`` holds.

        Read from the FTS5 postings, rarest term first; on a big index the commonest terms
        (which weigh least) are left out once ``POSTINGS_BUDGET`` postings have been read.
        """
        wanted = set(passage_ids)
        out: dict[int, set[str]] = {pid: set() for pid in wanted}
        sql = "SELECT rowid FROM passages_fts WHERE passages_fts MATCH ?"
        for term, word in _affordable(query, [t for t in query.content if query.df.get(t, 0)]):
            for (rowid,) in self.db.execute(sql, (match_query([word]),)):
                if rowid in wanted:
                    out[rowid].add(term)
        return out

    @functools.cached_property
    def passage_count(self) -> int:
        return self.count("passages")

    def article_meta(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str | None, str | None]]:
        """(title, date, url) by article id."""
        marks = ",".join("?" * len(article_ids))
        rows = self.db.execute(
            f"SELECT article_id, title, date, url FROM articles WHERE article_id IN ({marks})", list(article_ids)
        )
        return {aid: (title, date, url) for aid, title, date, url in rows}

    def paragraph_text(self, article_id: str, number: int) -> str | None:
        row = self._paragraph(article_id, number)
        return row[0] if row else None

    def paragraph_page(self, article_id: str, number: int) -> int | None:
        """The page a PDF's paragraph starts on (None for other articles)."""
        row = self._paragraph(article_id, number)
        return row[1] if row else None

    def _paragraph(self, article_id: str, number: int) -> tuple[str, int | None] | None:
        return self.db.execute(
            "SELECT p.text, p.page FROM paragraphs p JOIN articles a ON a.id = p.article"
            " WHERE a.article_id = ? AND p.number = ?",
            (article_id, number),
        ).fetchone()

    def close(self) -> None:
        for db in self._connections:
            db.close()
        self._connections.clear()
        self._local = threading.local()
