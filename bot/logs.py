"""Structured, quiet-by-default logging: one ``key=value`` line per event on stderr."""

from __future__ import annotations

import logging
import sys

from bot.printable import printable

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class LogfmtFormatter(logging.Formatter):
    """``time=… level=… logger=… msg="…" key=value`` with the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        line = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        if record.exc_info:  # the traceback alone spans lines; its text is made inert too
            line += "\n" + "\n".join(printable(t) for t in self.formatException(record.exc_info).splitlines())
        return line


def _value(value: object) -> str:
    text = str(value)
    if text and all(c.isalnum() or c in "-_.:/@+" for c in text):
        return text
    return '"' + printable(text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")) + '"'


def _not_milvus_lite(record: logging.LogRecord) -> bool:
    """milvus_lite logs its failures on the root logger; citebot reports each of them as its own error."""
    return record.name != "root" or "milvus_lite" not in record.pathname


def setup_logging(verbosity: int) -> None:
    """Warnings only by default; ``-v`` adds info, ``-vv`` debug (our code and libraries)."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    handler.addFilter(_not_milvus_lite)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "filelock", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
