"""Broad questions about a topic: "What do the articles say about X?", "Tell me about X".

Among the first things people ask a news bot, and no single sentence answers them, so the
reranker (which judges whether a sentence answers) is the wrong judge. They get the passages
most about the topic instead: sentences that name all of it, from the best-ranked passages,
earliest first (news and encyclopaedia articles lead with their summary). A topic the
articles never name gets a decline, not a guess.
"""

from __future__ import annotations

import re

from retrieval.question import plain
from retrieval.store import STOPWORDS

# "what do the articles say about X", "tell me about X", "what's going on in X", "news on X"...
# Read on ``plain(question)`` (single spaces, no closing punctuation), so the topic runs to the end:
# a lazy topic before trailing ``[\s?.!]*$`` was quadratic in a run of spaces.
_TOPIC = re.compile(
    r"(?:"
    r"what\s+(?:do|does|did|can)\s+(?:the\s+)?(?:articles?|reports?|stor(?:y|ies)|news|texts?|sources?|they|it|you)"
    r"\s+(?:say|tell(?:\s+me|\s+us)?|report|write|mention|know)\s+(?:about|on|regarding|of)"
    r"|(?:can\s+you\s+|please\s+)?tell\s+(?:me|us)\s+(?:more\s+)?about"
    r"|what(?:'s|\s+is)\s+(?:the\s+)?(?:news|latest|story|situation)\s+(?:about|on|from|in|with)"
    r"|(?:any\s+)?(?:news|updates?|info(?:rmation)?)\s+(?:about|on|from|regarding)"
    r"|what(?:'s|\s+is|\s+was)\s+(?:going\s+on|happening)\s+(?:in|with|at|to)"
    r"|what\s+happened\s+(?:in|to|at|with)"
    r"|(?:give\s+me\s+)?(?:a\s+)?(?:summary|overview)\s+of|summari[sz]e"
    r") (?P<topic>.+)",
    re.IGNORECASE,
)
MAX_TOPIC_WORDS = 8  # longer than this, it is a question with a subject, not a topic


def topic_of(question: str) -> str | None:
    """The topic of a broad question ("Sievierodonetsk" in "What do the articles say about it?"), else None."""
    match = _TOPIC.fullmatch(plain(question))
    if match is None:
        return None
    topic = re.sub(r"^(?:the|a|an)\s+", "", match["topic"].strip(), flags=re.IGNORECASE)
    words = re.findall(r"\w+", topic.lower())
    if not words or len(words) > MAX_TOPIC_WORDS or all(w in STOPWORDS for w in words):
        return None  # "what do they say about it?" names no topic
    return topic
