"""Follow-up questions: a message read with the conversation's earlier turns, without a language model.

"Who is the mayor of Sievierodonetsk?" then "What did he say about the fighting?": the second
message names nobody, so on its own it is answered about something else. A message *depends*
on the earlier turns when it opens like a continuation ("and …", "what about …"), is very
short ("Why?"), or leans on a pronoun or demonstrative while naming nothing itself; a message
that names something and reads as a full question stands alone, so a new topic is never
dragged back to the old one (the idea of HQE, TREC CAsT: earlier turns' specific words are
added only when the current one looks ambiguous).

A dependent message is rewritten into a standalone *reading*, in this order of preference:
"what about X?" asks the previous question about X; a bare question word ("Why?", "How
many?") asks the previous question with that word; "Says who?" or "Source?" asks the previous
question again (its answer carries the citation); a personal pronoun becomes the person the
previous turn named, another pronoun or demonstrative the previous question's subject; else
the earlier turn's names are added. The reading is what is searched and quoted, and it is
shown to the person when it differs from what they typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.question import MAX_QUESTION_CHARS, plain
from retrieval.records import Answer

PERSONAL = frozenset("he she him her his hers".split())
OTHER = frozenset("it its they them their theirs this that these those there then".split())
PRONOUNS = PERSONAL | OTHER
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
# These run on ``plain(text)``: one line, single spaces, no closing punctuation. Each ends in a
# greedy ``.+``/``.*`` that runs to the end of the text, and no two unbounded parts can share a
# run of characters, so a match is linear in the text (a lazy group before trailing ``\s*[?.!]*\s*$``
# was cubic: 3,000 spaces took over a minute).
_OPENER = re.compile(r"(?:(?:and|also|but|so|ok|okay),? )?(?:what|how) about (?P<rest>.+)", re.I)
_AND = re.compile(r"(?:and|also|but)\b", re.I)
# asking where the last answer came from: the last question again, whose answer carries its citation
_SOURCE = re.compile(
    r"says who|who says(?: so)?|who said (?:that|so|this)|according to (?:whom|who|what)|sources?"
    r"|what(?:'s| is) (?:the|your) source|where does it say (?:that|so)|how do (?:you|we) know",
    re.I,
)
_QUESTION_WORD = re.compile(
    r"(?:and )?(?P<wh>who|whom|whose|what|when|where|why|which|how(?: (?:many|much|long|old|far|big|often|come))?)"
    r"(?P<rest>\b.*)",
    re.I,
)
# capitalised runs after the first word ("the mayor Oleksandr Stryuk", "Luhansk"): names, roughly
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b(?:[A-Z][\w'’-]+)(?:\s+(?:of\s+|de\s+|al-)?[A-Z][\w'’-]+)*")
SHORT = 3  # words: "Why?", "How many?", "When was that?"


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: what was typed, how it was read, and what was answered."""

    question: str
    reading: str
    answer: Answer


def depends(text: str) -> bool:
    """Whether ``text`` leans on the earlier turns rather than standing alone."""
    if len(text) > MAX_QUESTION_CHARS:
        return False  # refused as a question anyway: no pattern reads it
    text = plain(text)
    tokens = _WORD.findall(text)
    words = [w.lower() for w in tokens]
    if not words:
        return False
    if _OPENER.fullmatch(text) or _AND.match(text) or _SOURCE.fullmatch(text):
        return True
    named = names(text)
    pronoun = next((i for i, w in enumerate(words) if w in PERSONAL), None)
    first_name = next((i for i, w in enumerate(tokens) if any(w in n.split() for n in named)), None)
    if pronoun is not None and (first_name is None or first_name > pronoun):
        return True  # "did he admit the Russians are stronger?": "he" comes before anyone this message names
    if named:
        return False  # it names what it is about: a question of its own
    return len(words) <= SHORT or any(w in OTHER for w in words)


def names(text: str) -> list[str]:
    """Capitalised runs that are not just the first word of a sentence, in order."""
    found = []
    for match in _NAME.finditer(text.strip()):
        name = match.group(0).strip()
        if name.lower() not in PRONOUNS and name not in found:
            found.append(name)
    return found


def resolve(text: str, history: Sequence[Turn], *, reply: bool = False) -> str | None:
    """A standalone reading of ``text`` given the earlier turns (newest last), or None if it stands alone.

    ``reply``: the message answers the bot's last message (a Telegram reply), so it continues it
    unless it names what it is about (in a group, replying is also how one addresses the bot).
    """
    if len(text) > MAX_QUESTION_CHARS or not history or not (depends(text) or (reply and not names(text))):
        return None
    text = " ".join(text.split())
    last = history[-1]
    previous = " ".join(last.reading.split())
    subject = _subject(previous)
    person = _person(last)
    if _SOURCE.fullmatch(plain(text)):
        return previous
    if about := _OPENER.fullmatch(plain(text)):
        target = about.group("rest").strip()
        return _replace_last(previous, subject, target) if subject else f"{_bare(previous)} {target}?"
    words = _WORD.findall(text)
    wh = _QUESTION_WORD.fullmatch(plain(text))
    if wh and len(words) <= SHORT and not {w.lower() for w in words} & PRONOUNS:
        asked = _QUESTION_WORD.fullmatch(plain(previous))
        rest = (asked.group("rest") if asked else f" {_bare(previous)}").strip()
        extra = wh.group("rest").strip()
        reading = f"{wh.group('wh').strip().capitalize()} {rest}" + (f" {extra}" if extra else "")
        return reading.rstrip(" ?") + "?"
    replaced = _substitute(text, person, subject)
    if replaced != text:
        return replaced
    context = subject or person
    return f"{text.rstrip(' ?.!')} ({context})?" if context and context.lower() not in text.lower() else None


def _subject(question: str) -> str | None:
    """The thing the previous question was about: its last name, else None."""
    found = names(question)
    return found[-1] if found else None


def _person(turn: Turn) -> str | None:
    """Whom "he" or "she" means next: a person the answer or the question named (two words or more)."""
    quotes = turn.answer.quotes or ((turn.answer.closest,) if turn.answer.closest else ())
    pool = names(turn.reading) + [n for q in quotes[:1] for n in names(q.text)]
    people = [n for n in pool if len(n.split()) >= 2 and " of " not in n]
    return people[0] if people else None


def _substitute(text: str, person: str | None, subject: str | None) -> str:
    """Each personal pronoun becomes the person, the first other pronoun the subject."""
    used_other = False

    def swap(match: re.Match[str]) -> str:
        nonlocal used_other
        word, low = match.group(0), match.group(0).lower()
        if low in PERSONAL and person:
            return f"{person}'s" if low in ("his", "hers") else person
        if low in OTHER and low != "then" and subject and not used_other:
            used_other = True
            return f"{subject}'s" if low in ("its", "their", "theirs") else subject
        return word

    return re.sub(r"\b[A-Za-z]+\b", swap, text)


def _replace_last(question: str, old: str, new: str) -> str:
    at = question.rfind(old)
    return question[:at] + new + question[at + len(old) :]


def _bare(question: str) -> str:
    return question.strip().rstrip("?.! ")
