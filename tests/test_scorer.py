"""The shipped answer scorer: the reranker file is the one recorded, its weights are checked,
and it answers questions asked in a reader's own words while declining what the article does
not say. The questions here were written for this test, apart from the measured sets in
bench/data/bundled, without copying the article's wording.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from retrieval import Library
from retrieval.errors import ScorerError
from retrieval.reranker import CARD, RERANKER, TOKENIZER, Reranker, card, models_dir
from retrieval.topics import topic_of
from retrieval.weights import parse, shipped
from tests.test_answer import paragraph_with

# Not yet answered from the right paragraph by the shipped scorer (issue 11 is open): the first two
# find the right sentence and decline it, the rest quote another. strict: they fail the suite once
# they pass, so that they move up to PARAPHRASED.
_GAP = pytest.mark.xfail(strict=True, reason="issue 11: paraphrases of the bundled article are still weak")
# question -> words of the paragraph that answers it
PARAPHRASED = [
    ("What does Moscow say it is trying to achieve?", "liberate"),
    pytest.param("What do both armies claim about losses?", "inflicted huge casualties", marks=_GAP),
    pytest.param("How long have the separatists controlled territory there?", "since 2014", marks=_GAP),
    pytest.param("Why is Sievierodonetsk important?", "largest remaining Ukrainian-held city", marks=_GAP),
    pytest.param("Which side had more soldiers?", "numerical advantage", marks=_GAP),
    pytest.param("Who runs the Luhansk region for Ukraine?", "Serhiy Gaidai", marks=_GAP),
]
ON_TOPIC_UNANSWERED = [
    "How many Russian tanks were destroyed in Sievierodonetsk?",
    "What is the population of Lysychansk?",
    "Who commands the Russian forces in Sievierodonetsk?",
    "When was the Azot chemical plant built?",
]


def test_shipped_reranker_matches_its_recorded_sha256() -> None:
    weights = shipped()
    assert weights.reranked > 0, "the shipped scorer reads no sentence with the reranker"
    recorded = card()["sha256"]
    assert set(recorded) == {RERANKER, TOKENIZER}
    import hashlib

    for name, digest in recorded.items():
        assert hashlib.sha256((models_dir() / name).read_bytes()).hexdigest() == digest
    reranker = Reranker.shipped()
    for question, right, wrong in (
        ("When did the invasion start?", "The Russian invasion started on Feb 24.", "It rained in the capital."),
        ("How tall is the tower?", "The tower is 330 metres tall.", "The tower was painted brown in 1968."),
    ):
        scores = reranker.logits(question, [f"Ukraine: {right}", f"Ukraine: {wrong}"])
        assert scores.shape == (2,) and scores[0] > scores[1] + 1.0, (question, scores)


def test_a_pair_gets_the_same_logit_alone_and_among_others() -> None:
    # int8 activations are scaled per run: scored as one batch, each pair's logit moved with the
    # others' (by up to ~0.2), so the fitted weights met different numbers in service
    reranker = Reranker.shipped()
    question = "Who is the mayor of Sievierodonetsk?"
    texts = [
        "Sievierodonetsk: Sievierodonetsk Mayor Oleksandr Stryuk said street fighting was raging.",
        "Sievierodonetsk: Both sides say they have inflicted huge casualties on each other.",
        "Sievierodonetsk: He said he had travelled to Lysychansk, south of Sievierodonetsk, and Soledar - rare "
        "outings for him outside of Kyiv since Russia invaded on Feb 24.",
    ]
    together = reranker.logits(question, texts)
    alone = [reranker.logits(question, [t])[0] for t in texts]
    assert together == pytest.approx(alone, abs=1e-5)
    assert int(together.argmax()) == 0, together


def test_a_damaged_reranker_is_refused(tmp_path: Path) -> None:
    for name in (RERANKER, TOKENIZER, CARD):
        shutil.copy(models_dir() / name, tmp_path / name)
    with (tmp_path / RERANKER).open("r+b") as fh:  # one flipped byte deep in the weights
        fh.seek(len(fh.read()) // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    damaged = Reranker(tmp_path / RERANKER, tmp_path / TOKENIZER, card()["sha256"])
    with pytest.raises(ScorerError, match="sha256"):
        damaged.logits("Who is the mayor?", ["x: The mayor."])
    missing = Reranker(tmp_path / "gone.onnx", tmp_path / TOKENIZER, card()["sha256"])
    with pytest.raises(ScorerError, match="cannot be read"):
        missing.logits("Who is the mayor?", ["x: The mayor."])


@pytest.mark.parametrize(
    "change",
    [
        {"reranked": -1},
        {"reranked": 1.5},
        {"threshold": 1.5},
        {"threshold": True},
        {"quote": {"bias": 0, "weights": {"reranker": float("nan")}}},
        {"confidence": []},
    ],
)
def test_malformed_weights_are_one_clear_error(change: dict) -> None:
    data = json.loads((models_dir() / "scorer.json").read_text())
    data.update(change)
    with pytest.raises(ScorerError):
        parse(json.loads(json.dumps(data)))


@pytest.mark.parametrize(("question", "words"), PARAPHRASED)
def test_paraphrased_questions_are_answered_from_the_right_paragraph(
    library: Library, question: str, words: str
) -> None:
    answer = library.answer(question)
    assert answer.answered, answer
    assert answer.quotes[0].citation.paragraph == paragraph_with(words), answer


@pytest.mark.parametrize("question", ON_TOPIC_UNANSWERED)
def test_on_topic_questions_the_article_does_not_answer_are_declined(library: Library, question: str) -> None:
    answer = library.answer(question)
    assert not answer.answered, answer
    assert answer.closest is not None


def test_every_suggested_example_is_answered_about_its_topic(library: Library) -> None:
    examples = library.examples()
    assert examples
    for question in examples:
        topic = topic_of(question)
        assert topic is not None, question
        answer = library.answer(question)
        assert answer.answered, answer
        assert all(topic.lower() in q.text.lower() for q in answer.quotes), answer
        assert len({q.citation.paragraph for q in answer.quotes}) == len(answer.quotes)


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("What do the articles say about Sievierodonetsk?", "Sievierodonetsk"),
        ("tell me about the Azot plant", "Azot plant"),
        ("What's happening in Luhansk?", "Luhansk"),
        ("What do they say about it?", None),
        ("Who is the mayor of Sievierodonetsk?", None),
    ],
)
def test_broad_questions_are_recognised(question: str, topic: str | None) -> None:
    assert topic_of(question) == topic
