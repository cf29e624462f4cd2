"""Text from articles, file names and users, made safe to print on a terminal.

An ESC or CSI in a title or file name would otherwise be a terminal command (recolouring,
retitling the window, hiding text); they are shown escaped instead, as ``\\x1b``.
"""

from __future__ import annotations

import re

# C0 controls but tab, DEL, and C1 controls (which some terminals obey as 8-bit escapes)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but tab spelled out (``\\x1b``); one line, inert."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def json_printable(line: str) -> str:
    """A JSON text with DEL and C1 controls written as ``\\u`` escapes (json.dumps leaves them raw).

    They can only occur inside strings, where the escape means the same character.
    """
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m[0]):04x}", line)
