"""Where an index keeps its passages: the local folder (FAISS + SQLite) or Milvus.

``citebot index --store`` (or ``$CITEBOT_STORE``) chooses; the choice is recorded in the
index folder (``store.json``), so ``ask``, ``chat``, ``serve`` and ``eval`` need only
``--index``. A Milvus store is named there too (a random ``citebot_…`` prefix for its
collections), so several processes pointed at copies of the folder answer from one Milvus.
The token (``$CITEBOT_MILVUS_TOKEN``) is read from the environment only, never recorded; an
address carrying credentials (``user:pass@``, a query or a fragment) is refused, because the
address is recorded in ``store.json`` and shown in messages and logs.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from retrieval.errors import CitebotError

STORE_ENV = "CITEBOT_STORE"
TOKEN_ENV = "CITEBOT_MILVUS_TOKEN"
RECORD = "store.json"
_NAME = re.compile(r"citebot_[0-9a-f]{12}", re.ASCII)
_SECRET = re.compile(r"[@?#]")  # user info, a query or a fragment: where an address carries credentials


class StoreError(CitebotError):
    """The store cannot be used: a bad ``--store``, Milvus unreachable or refusing, or missing collections."""


@dataclass(frozen=True)
class StoreSpec:
    kind: Literal["local", "milvus"]
    uri: str = ""  # Milvus: an absolute .db path (Milvus Lite) or http(s)://host:port
    name: str = ""  # Milvus: the prefix of this index's collections

    @property
    def lite(self) -> bool:
        return self.kind == "milvus" and not self.uri.startswith(("http://", "https://"))

    @property
    def address(self) -> str:
        """The Milvus address as messages show it (without credentials, see ``shown``)."""
        return shown(self.uri)

    def label(self) -> str:
        """How the store is shown to people (never with a token)."""
        return "local" if self.kind == "local" else f"milvus {self.address} ({self.name})"


def shown(uri: str) -> str:
    """``uri`` without user info, query or fragment: the one way a Milvus address reaches a message.

    ``parse_store`` refuses addresses that have them, but a ``store.json`` written by an older
    citebot may still hold one; a Milvus Lite path is shown as it is.
    """
    if "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return uri.partition("://")[0] + "://…"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


LOCAL = StoreSpec("local")


def parse_store(value: str) -> StoreSpec:
    """``local``, ``milvus:PATH.db`` (Milvus Lite), ``milvus://HOST:PORT``, or ``http(s)://…`` (a Milvus server)."""
    value = value.strip()
    if value in ("", "local"):
        return LOCAL
    if "://" in value and _SECRET.search(value):
        raise StoreError(
            f"--store {shown(value)}: put credentials in ${TOKEN_ENV} (user:password or an API key), not in the address"
        )
    if value.startswith("milvus://"):
        rest = value.removeprefix("milvus://")
        if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", rest):
            raise StoreError(f"--store {value}: expected milvus://HOST:PORT")
        return StoreSpec("milvus", f"http://{rest}")
    if value.startswith(("http://", "https://")):
        return StoreSpec("milvus", value.rstrip("/"))
    if value.startswith("milvus:"):
        path = Path(value.removeprefix("milvus:")).expanduser()
        if path.suffix != ".db" or not path.name.removesuffix(".db"):
            raise StoreError(f"--store {value}: Milvus Lite needs a file ending in .db, e.g. milvus:citebot.db")
        return StoreSpec("milvus", str(path.absolute()))
    raise StoreError(f"--store {value}: expected local, milvus:PATH.db, milvus://HOST:PORT or https://…")


def recorded_store(index_dir: Path) -> StoreSpec:
    """The store ``citebot index`` recorded for this folder (local when none was)."""
    try:
        raw = json.loads((index_dir / RECORD).read_text())
    except FileNotFoundError:
        return LOCAL
    except (OSError, ValueError) as exc:
        raise StoreError(f"{index_dir / RECORD} is unreadable ({exc}): run `citebot index --store …` again") from None
    if not isinstance(raw, dict) or raw.get("kind") not in ("local", "milvus"):
        raise StoreError(f"{index_dir / RECORD} is damaged: run `citebot index --store …` again")
    if raw["kind"] == "local":
        return LOCAL
    uri, name = raw.get("uri"), raw.get("name")
    if not isinstance(uri, str) or not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StoreError(f"{index_dir / RECORD} is damaged: run `citebot index --store …` again")
    return StoreSpec("milvus", uri, name)


def choose_store(index_dir: Path, wanted: str | None) -> StoreSpec:
    """The store a build writes to: ``wanted`` (or ``$CITEBOT_STORE``), else the recorded one.

    A Milvus store keeps the collection prefix it was given before, so a rebuild replaces the
    same collections instead of starting a second set.
    """
    wanted = wanted if wanted is not None else os.environ.get(STORE_ENV)
    recorded = recorded_store(index_dir)
    if wanted is None:
        return recorded
    spec = parse_store(wanted)
    if spec.kind == "local":
        return LOCAL
    if recorded.kind == "milvus" and recorded.uri == spec.uri:
        return recorded
    return StoreSpec("milvus", spec.uri, f"citebot_{uuid.uuid4().hex[:12]}")


def record_store(index_dir: Path, spec: StoreSpec) -> None:
    """Write ``store.json`` atomically (a reader sees the old record or the new one); never with credentials."""
    if spec.kind == "milvus" and "://" in spec.uri and _SECRET.search(spec.uri):
        raise StoreError(f"--store {spec.address}: put credentials in ${TOKEN_ENV}, not in the address")
    tmp = index_dir / f".{RECORD}-{uuid.uuid4().hex[:8]}"
    body = {"kind": spec.kind} if spec.kind == "local" else {"kind": "milvus", "uri": spec.uri, "name": spec.name}
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, index_dir / RECORD)
