"""`safe()`: text from a device or the broker, made fit for one log line."""

from __future__ import annotations

MAX_CHARS = 200


def safe(text: object, limit: int = MAX_CHARS) -> str:
    """Control characters and newlines escaped (repr-style), at most `limit` characters kept.

    Whoever can write a topic, a reason string or a payload must not be able to forge log
    lines or flood the log, so nothing of theirs reaches a log call without this.
    """
    s = text if isinstance(text, str) else str(text)
    cut = s[:limit]
    out = "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in cut)
    if len(s) > limit:
        out += f"...(+{len(s) - limit} chars)"
    return out


def _escape(c: str) -> str:
    if c == "\\":
        return "\\\\"
    # repr knows \n, \t, \r and picks \xNN, \uNNNN or \UNNNNNNNN for the rest.
    return repr(c)[1:-1]
