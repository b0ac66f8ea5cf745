"""Text no database column can hold, refused at the edges — never per field.

PostgreSQL's ``text`` can't store U+0000 (psycopg raises before the query is sent) and UTF-8 can't
encode a lone surrogate (U+D800–U+DFFF, reachable through a JSON ``\\udXXX`` escape).  Either one
deep inside a request turned into a 500, or, in a chat frame, failed a whole group-commit batch.
So every input is checked once where it enters, before any view, serializer or service sees it:

- HTTP: ``config.middleware.UnstorableTextMiddleware`` (path, query string, header values, JSON
  and url-encoded bodies) and ``config.parsers.MultiPartParser`` (multipart text fields);
- WebSocket: ``realtime.protocol.decode`` (every frame).

Each answers in its one error shape with code ``invalid``.  Cheap hints (``json_*_hint``,
``URLENCODED_HINT``) run over the raw text; only a hit pays for decoding and walking the value (a
hint can be a false alarm: ``\\u00e9``, a valid surrogate *pair* such as ``\\ud83d\\ude00``, or an
escaped backslash before ``u0000``).
"""

from __future__ import annotations

import re
from typing import Any

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "Text may not contain NUL characters or unpaired surrogates."

_RAW_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text_hint(text: str) -> bool:
    """Could this JSON text decode to unstorable text?  A raw NUL or surrogate, or any ``\\u``
    escape (the walk tells NUL/lone-surrogate escapes from ``\\u00e9``).  Substring tests and
    ``isascii`` run at memory speed: several times cheaper than one regex over a chat frame."""
    if "\\u" in text or "\x00" in text:
        return True
    return not text.isascii() and _RAW_SURROGATE.search(text) is not None


def json_bytes_hint(body: bytes) -> bool:
    """``json_text_hint`` for a UTF-8 body (a surrogate can't be valid UTF-8: the parser refuses it)."""
    return b"\\u" in body or b"\x00" in body


# In a percent-encoded string (path, query, form body): a NUL, raw or encoded.  Percent-decoding
# replaces invalid UTF-8 (which is all a surrogate could be), so only NUL can get through.
URLENCODED_HINT = re.compile(r"\x00|%00")


def find(value: Any, where: str = "") -> str | None:
    """Where the first unstorable text in ``value`` (str / dict / list / tuple, nested) is: the
    top-level key it is under (``where`` for anything else), or None when there is none."""
    stack = [(value, where, True)]
    while stack:  # iterative: nesting depth is the client's choice
        item, at, top = stack.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return at
        elif isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str) and UNSTORABLE.search(key):
                    return at
                stack.append((sub, key if top and isinstance(key, str) else at, False))
        elif isinstance(item, (list, tuple)):
            stack.extend((sub, at, False) for sub in item)
    return None


def has(value: str) -> bool:
    return UNSTORABLE.search(value) is not None
