"""Answers on the bundled article: exact quotes, right citations, honest refusals."""

from __future__ import annotations

import pytest

from retrieval import Library, QuestionError
from retrieval.corpus import read_corpus
from tests.conftest import BUNDLED_FILE

ARTICLE = read_corpus([BUNDLED_FILE]).articles[0]


def paragraph_with(words: str) -> int:
    """1-based number of the article paragraph containing ``words``."""
    return next(i for i, p in enumerate(ARTICLE.paragraphs, 1) if words in p)


QUESTIONS = {
    "Who is the mayor of Sievierodonetsk?": "Mayor Oleksandr Stryuk",
    "Who had the numerical advantage?": "Russian forces had the numerical advantage",
    "What does Russia call its war in Ukraine?": "special military operation",
    "Where did Zelenskyy travel on Sunday?": "visit to two cities close to the front lines",
    "Since when have separatists held part of the Donbas?": "since 2014",
}


@pytest.mark.parametrize(("question", "words"), QUESTIONS.items())
def test_answers_quote_the_right_paragraph(library: Library, question: str, words: str) -> None:
    answer = library.answer(question)
    assert answer.answered, answer
    first = answer.quotes[0]
    assert first.citation.paragraph == paragraph_with(words)
    assert any(words in q.text for q in answer.quotes)
    assert first.citation.title == "Sievierodonetsk" and first.citation.date == "2022-06-07"
    assert 1 <= len(answer.quotes) <= 3


@pytest.mark.parametrize(
    "question",
    [
        *QUESTIONS,
        "What was Zelenskyy wearing?",
        "When did the Russian invasion start?",
        "What is the capital of France?",
    ],
)
def test_quotes_are_exact_substrings_at_their_offsets(library: Library, question: str) -> None:
    answer = library.answer(question)
    for quote in [*answer.quotes, *([answer.closest] if answer.closest else [])]:
        paragraph = library.paragraph(quote.citation.article_id, quote.citation.paragraph)
        assert paragraph is not None
        assert paragraph[quote.start : quote.end] == quote.text
        assert quote.text == ARTICLE.paragraphs[quote.citation.paragraph - 1][quote.start : quote.end]


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How do I cook borscht?",
        "Who won the 2018 World Cup?",
        "What is photosynthesis?",
    ],
)
def test_unrelated_questions_are_declined_with_a_closest_match(library: Library, question: str) -> None:
    answer = library.answer(question)
    assert not answer.answered
    assert answer.quotes == ()
    assert answer.closest is not None
    assert 0.0 <= answer.confidence < 0.5


def test_confidence_separates_related_from_unrelated(library: Library) -> None:
    related = min(library.answer(q).confidence for q in QUESTIONS)
    unrelated = max(library.answer(q).confidence for q in ["What is the capital of France?", "Tell me a joke"])
    assert related > unrelated


def test_json_schema(library: Library) -> None:
    data = library.answer("Who is the mayor of Sievierodonetsk?").to_dict()
    assert set(data) == {"question", "answered", "confidence", "quotes", "closest"}
    assert isinstance(data["answered"], bool) and 0 <= data["confidence"] <= 1 and data["closest"] is None
    quote = data["quotes"][0]
    assert set(quote) == {"text", "article_id", "title", "date", "paragraph", "page", "url", "start", "end", "score"}
    assert isinstance(quote["paragraph"], int) and quote["paragraph"] >= 1
    assert quote["page"] is None and quote["url"] is None  # a .txt article has neither
    assert isinstance(quote["start"], int) and quote["end"] - quote["start"] == len(quote["text"])
    declined = library.answer("How do I cook borscht?").to_dict()
    assert declined["quotes"] == [] and set(declined["closest"]) == set(quote)


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 100_000, "too long"),
        ("?!... ---", "any words"),
        ("🙂🙂🎉", "any words"),
    ],
)
def test_bad_questions_get_a_clear_error(library: Library, question: str, message: str) -> None:
    with pytest.raises(QuestionError, match=message):
        library.answer(question)


def test_html_and_markdown_in_a_question_are_not_searched_for(library: Library) -> None:
    question = "<b>Who</b> is the **mayor** of `Sievierodonetsk`? <script>alert(1)</script>"
    answer = library.answer(question)
    assert answer.question == question  # echoed as typed; escaping is the renderer's job
    assert answer.answered and "Stryuk" in answer.quotes[0].text


def test_top_limits_quotes(library: Library) -> None:
    assert len(library.answer("What did Zelenskyy say about the situation?", top=1).quotes) == 1
