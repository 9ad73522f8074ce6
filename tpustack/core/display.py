"""How text and JSON leave tpustack, whatever the files it read held: the one sanitizing step at output.

* ``printable``: a string safe for a terminal, a log or a picture: control characters (C0 but newline and tab,
  DEL, C1, which carry ANSI/OSC escape sequences: ``ESC [``, ``ESC ]``) and the bidirectional overrides that make
  text read differently from what it is, are shown as ``\\xNN`` / ``\\uNNNN`` instead of acting. Result files and
  bucket object names are anyone's: what they say is shown, never obeyed.
* ``json_text``: strict JSON (RFC 8259): ``Infinity`` and ``NaN`` are not JSON, so a non-finite number is written
  as ``null`` (unknown) and ``allow_nan=False`` proves none is left; control characters are escaped by the encoder.

The CLI prints through these (tpustack.cli.output), the report's files are written with them, and the pictures draw
``printable`` text. Standard library only: the pods use it too.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# C0 controls but \t and \n, DEL, C1 controls, the bidi embeddings/overrides/isolates, and line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]")


def _escaped(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: object, *, newlines: bool = True) -> str:
    """``text`` (any value, as ``str``) with every control character shown escaped, never acting; ``newlines``
    False escapes newlines and tabs too (one table cell, one label, one line of a list)."""
    s = str(text)
    s = _UNSAFE.sub(_escaped, s)
    if not newlines:
        s = s.replace("\n", "\\n").replace("\t", "\\t")
    return s


def finite(doc: Any) -> Any:
    """``doc`` with every non-finite float replaced by None, tuples as lists (what JSON can hold)."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: finite(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [finite(v) for v in doc]
    return doc


def json_text(doc: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``doc`` as strict JSON text with a final newline (non-finite numbers as null; other values as ``str``)."""
    return json.dumps(finite(doc), indent=indent, sort_keys=sort_keys, allow_nan=False, default=str) + "\n"
