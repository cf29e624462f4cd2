"""Which SQuAD articles a fitted scorer may learn from, and which are held out to measure it.

One split for every fitting script: by article title (SQuAD 1.1 dev and the SQuAD 2.0 dev half
share titles, and their answerable questions overlap), so no held-out paragraph or question is
ever seen in training. Titles whose sha1 ends in an odd byte are the fitted fold (28 articles,
1,056 paragraphs); the rest (20 articles, 1,011 paragraphs) are held out. Questions written for
held-out articles (bench/data/natural) are held out with them.
"""

from __future__ import annotations

import functools
import hashlib
import json

from common import ROOT

SHARED = (ROOT.parent / "shared" / "eval").resolve()


def fitted(title: str) -> bool:
    return hashlib.sha1(title.encode()).digest()[-1] % 2 == 1


@functools.cache
def _titles() -> dict[str, str]:
    """Article id -> title, for both SQuAD sets."""
    out = {}
    for name in ("squad-v1.1-dev", "squad-v2-dev-half"):
        for line in (SHARED / name / "articles.jsonl").open(encoding="utf-8"):
            record = json.loads(line)
            out[record["id"]] = record["title"]
    return out


def heldout_articles() -> frozenset[str]:
    """Ids (SQuAD 1.1 and 2.0) of the articles no scorer is fitted on."""
    return frozenset(i for i, title in _titles().items() if not fitted(title))


def fitted_articles() -> frozenset[str]:
    return frozenset(i for i, title in _titles().items() if fitted(title))


def dev_articles() -> frozenset[str]:
    """A quarter of the fitted fold, kept out of training to choose settings (epochs, weights) on."""
    return frozenset(
        i for i, title in _titles().items() if fitted(title) and hashlib.sha1(title.encode()).digest()[-2] % 4 == 0
    )
