"""Sentence splitting, windows and index terms: quotes must start and end where sentences do."""

from __future__ import annotations

from embeddings import Embedder
from retrieval.corpus import read_corpus
from retrieval.store import terms
from retrieval.text import chunk_paragraphs, split_sentences, windows
from tests.conftest import BUNDLED_FILE


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_abbreviations_and_dates_do_not_split() -> None:
    text = "Mr. Smith met Dr. Jones on Jun 6. The U.S. Army left at 5 p.m. on Feb 24. Nobody knew why."
    assert sentences(text) == [
        "Mr. Smith met Dr. Jones on Jun 6.",
        "The U.S. Army left at 5 p.m. on Feb 24.",
        "Nobody knew why.",
    ]


def test_quotation_ending_in_period_inside_quotes() -> None:
    text = 'He said "it is over." Then he left.'
    assert sentences(text) == ['He said "it is over."', "Then he left."]


def test_bundled_article_sentences_are_exact_and_sensible() -> None:
    (article,) = read_corpus([BUNDLED_FILE]).articles
    all_sentences = []
    for paragraph in article.paragraphs:
        spans = split_sentences(paragraph)
        # exact slices, in order, covering every word of the paragraph
        assert "".join(paragraph[a:b] for a, b in spans).replace(" ", "") == paragraph.replace(" ", "")
        assert all(paragraph[a:b] == paragraph[a:b].strip() for a, b in spans)
        all_sentences += [paragraph[a:b] for a, b in spans]
    assert any(
        s.endswith(
            "on Monday (Jun 6) in the pivotal battle of the Kremlin offensive in Ukraine's eastern Donbas region."
        )
        for s in all_sentences
    )
    assert any(s.endswith("since the start of the Russian invasion on Feb 24.") for s in all_sentences)
    assert "Which side had the upper hand remained unclear." in all_sentences
    assert not any(s in {"Jun 6)", "6)", "Feb", "24."} for s in all_sentences)


def test_windows_respect_budget_and_overlap() -> None:
    counts = [40, 40, 40, 40, 40, 40]
    groups = windows([(0, 1)] * 6, counts, max_tokens=100, overlap=1)
    assert groups == [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]
    assert all(sum(counts[a:b]) <= 100 for a, b in groups)


def test_oversized_sentence_gets_its_own_window() -> None:
    groups = windows([(0, 1)] * 3, [10, 500, 10], max_tokens=100, overlap=1)
    assert (1, 2) in groups
    covered = {i for a, b in groups for i in range(a, b)}
    assert covered == {0, 1, 2}


def test_long_paragraph_is_windowed_on_sentence_boundaries(embedder: Embedder) -> None:
    paragraph = " ".join(f"Sentence number {i} talks about topic {i} at some length to use tokens." for i in range(60))
    ((spans, groups),) = chunk_paragraphs([paragraph], embedder.count_tokens, embedder.window_tokens)
    assert len(groups) > 1
    for first, last in groups:
        text = paragraph[spans[first][0] : spans[last - 1][1]]
        assert sum(embedder.count_tokens([text])) <= embedder.window_tokens
    assert {i for a, b in groups for i in range(a, b)} == set(range(len(spans)))


def test_terms_are_stemmed_as_fts5_stems_them_and_cached_copies_stay_unchanged() -> None:
    first = terms(["The mayors met.", "Zelenskyy\u2019s café"])
    assert set(first[0]) == {"the", "mayor", "met"}
    assert set(first[1]) == {"zelenskyi", "s", "cafe"}
    first[0]["invented"] += 5  # a caller changing its copy must not change the next answer
    again = terms(["The mayors met."])[0]
    assert "invented" not in again and set(again) == {"the", "mayor", "met"}


def test_ukrainian_and_russian_paragraphs_split_at_sentences_not_abbreviations() -> None:
    """pysbd's English rules cut after "р." (year), "вул." (street), "т." and initials."""
    uk = (
        "Міська рада 7 червня 2022 р. ухвалила рішення. Засідання відбулося на вул. Шевченка, 12. "
        "Мер О. Стрюк сказав: «Ми не відступимо». Депутати проголосували 25 голосами!"
    )
    ru = "Мэр А. Стрюк заявил 6 июня 2022 г., что бои идут на ул. Ленина. Это важно. Он добавил: «Мы держимся»."
    for text, count in ((uk, 4), (ru, 3)):
        spans = split_sentences(text)
        assert len(spans) == count, [text[a:b] for a, b in spans]
        assert " ".join(text[a:b] for a, b in spans) == text  # exact slices, nothing lost or added
    assert [uk[a:b] for a, b in split_sentences(uk)][1] == "Засідання відбулося на вул. Шевченка, 12."
