"""The spool files of gammu-smsd ("files" backend) and smstools: outbox names, bodies, inbox.

gammu-smsd-files(7): an outbox file is `OUT<priority><date>_<time>_<serial>_<recipient>_<note>.txt`,
priority A-Z (A first), its content the text "in Unicode or standard character set"; received
messages are `IN<date>_<time>_<serial>_<sender>_<sequence>.txt`, in the InboxFormat
(`unicode`: UTF-16 with a byte-order mark, `standard`: the system charset).

smstools3 "SMS file format": any unique file name in the outgoing directory; header lines
(`To: <number in international format without the leading +>`, `Alphabet: ...`), an empty
line, the text. Received files carry `From:` and `Alphabet:` headers the same way.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Daemon = Literal["gammu", "smstools"]
Encoding = Literal["utf-16", "utf-8", "iso-8859-15", "ucs2"]
ENCODINGS: dict[Daemon, tuple[Encoding, ...]] = {
    "gammu": ("utf-16", "utf-8"),
    "smstools": ("utf-8", "iso-8859-15", "ucs2"),
}
TMP_PREFIX = ".solarwater-"  # neither daemon takes a dot file: gammu reads only OUT*
_NOTE_UNSAFE = re.compile(r"[^A-Za-z0-9]")
_GAMMU_IN = re.compile(r"^IN\d{8}_\d{6}_\d+_(?P<sender>[^_]+)_\d+\.(?P<ext>[a-z]+)$")


def gammu_name(priority: str, number: str, note: str, now: float, serial: int) -> str:
    """An outbox file name gammu-smsd sends in (priority, date, time, serial) order."""
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(now))
    safe = _NOTE_UNSAFE.sub("", note)[:24] or "x"
    return f"OUT{priority}{stamp}_{serial % 1000:03d}_{number}_{safe}.txt"


def smstools_name(note: str, now: float) -> str:
    """A unique file name for the smstools outgoing directory."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    return f"solarwater-{stamp}-{_NOTE_UNSAFE.sub('', note)[:24]}-{secrets.token_hex(4)}"


def gammu_body(text: str, encoding: Encoding) -> bytes:
    if encoding == "utf-16":
        return "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")
    return text.encode("utf-8")


def smstools_body(number: str, text: str, encoding: Encoding) -> bytes:
    to = number.removeprefix("+")
    if encoding == "ucs2":
        return f"To: {to}\nAlphabet: UCS2\n\n".encode("ascii") + text.encode("utf-16-be")
    if encoding == "iso-8859-15":
        return f"To: {to}\nAlphabet: ISO\n\n{text}\n".encode("iso-8859-15", "replace")
    return f"To: {to}\nAlphabet: UTF-8\n\n{text}\n".encode()


def write_atomic(directory: Path, name: str, body: bytes, tmp_dir: Path | None = None) -> Path:
    """`body` as `directory/name`, appearing whole: a temp file synced, then renamed."""
    tmp = (tmp_dir or directory) / f"{TMP_PREFIX}{secrets.token_hex(6)}.tmp"
    final = directory / name
    # readable by the daemon's user, which is not ours (Debian: gammu, smsd)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def queued(directory: Path) -> int:
    """Messages waiting in an outbox (our temp files left out)."""
    with os.scandir(directory) as it:
        return sum(1 for e in it if not e.name.startswith(".") and e.is_file())


@dataclass(frozen=True, slots=True)
class Received:
    """One SMS read from a daemon's inbox; `sender` None when the file says none."""

    path: Path
    sender: str | None
    text: str | None  # None: not a text message (8-bit, backup format, undecodable)


def inbox_files(directory: Path, daemon: Daemon, older_than: float, limit: int) -> list[Path]:
    """The inbox files that are complete (untouched for a while), oldest first, at most `limit`."""
    found: list[tuple[float, str]] = []
    with os.scandir(directory) as it:
        for e in it:
            if e.name.startswith(".") or e.name.endswith(".LOCK") or not e.is_file():
                continue
            if daemon == "gammu" and not e.name.startswith("IN"):
                continue
            mtime = e.stat().st_mtime
            if mtime <= older_than:
                found.append((mtime, e.name))
    found.sort()
    return [directory / name for _, name in found[:limit]]


def read_received(path: Path, daemon: Daemon) -> Received:
    raw = path.read_bytes()
    if daemon == "gammu":
        m = _GAMMU_IN.match(path.name)
        if m is None:
            return Received(path, None, None)
        if m["ext"] != "txt":
            return Received(path, m["sender"], None)  # .bin (8-bit) or .smsbackup
        return Received(path, m["sender"], _decode_gammu(raw))
    head, sep, body = raw.partition(b"\n\n")
    if not sep:
        return Received(path, None, None)
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip()] = value.strip()
    alphabet = headers.get("Alphabet", "ISO").upper()[:3]
    if alphabet == "BIN":
        return Received(path, headers.get("From"), None)
    if alphabet in ("UCS", "UNI", "CHI"):
        text = body.decode("utf-16-be", "replace")
    elif alphabet == "UTF":
        text = body.decode("utf-8", "replace")
    else:
        text = body.decode("iso-8859-15", "replace")
    return Received(path, headers.get("From"), text)


def _decode_gammu(raw: bytes) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", "replace")  # InboxFormat = unicode
    return raw.decode("utf-8", "replace")  # standard: the daemon's charset, UTF-8 here
