"""Short signed links to one alert, `{public_url}/a/{id}.{exp_base36}.{signature}`, and to a
group of alerts sent as one notification, `{public_url}/g/{group_id}.{exp_base36}.{signature}`.

The signature is HMAC-SHA256 over "{id}.{exp}" (a group's: over "g.{id}.{exp}", so neither
kind passes for the other) with the link secret, base64url and cut to SIG_CHARS (96 bits:
far beyond guessing over HTTP, short enough for an SMS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from collector.private_files import open_private, private_dir, write_all
from devices.errors import SolarWaterError

SIG_CHARS = 16
SECRET_FILE = "link_secret"
TOKEN_RE = re.compile(r"([1-9][0-9]{0,17})\.([0-9a-z]{1,13})\.([A-Za-z0-9_-]{16})")


class LinkRefused(SolarWaterError):
    """A link that is not ours (`expired` False) or is past its expiry (`expired` True)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("link expired" if expired else "link not valid")
        self.expired = expired


def to_base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _sign(key: bytes, text: str, chars: int = SIG_CHARS) -> str:
    mac = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:chars]


@dataclass(frozen=True, slots=True)
class Link:
    """A verified link: the alert (or group) it names and when it stops working (epoch s)."""

    alert_id: int
    expires_s: int
    token: str


class LinkSigner:
    """Makes and checks the signed links of one secret and base URL."""

    def __init__(self, secret: bytes, public_url: str, ttl_s: float) -> None:
        self._key = secret
        self.base = public_url.rstrip("/")
        self.ttl_s = ttl_s

    def token(self, alert_id: int, expires_s: int, kind: str = "") -> str:
        """`kind` "g" signs a group's token; "" an alert's (the form links already sent have)."""
        body = f"{alert_id}.{to_base36(expires_s)}"
        return f"{body}.{_sign(self._key, kind + '.' + body if kind else body)}"

    def url(self, alert_id: int, now_s: float) -> str:
        """The link to `alert_id`, valid for the configured time from `now_s`."""
        return f"{self.base}/a/{self.token(alert_id, int(now_s + self.ttl_s))}"

    def group_url(self, group_id: int, now_s: float) -> str:
        """The link to a group's page (see link_groups), valid as long as an alert's."""
        return f"{self.base}/g/{self.token(group_id, int(now_s + self.ttl_s), 'g')}"

    def verify(self, token: str, now_s: float, kind: str = "") -> Link:
        """The link's alert (or group, with `kind` "g"), or LinkRefused: forged first (an
        expired forgery is forged)."""
        m = TOKEN_RE.fullmatch(token)
        if m is None:
            raise LinkRefused(expired=False)
        body = f"{m.group(1)}.{m.group(2)}"
        signed = f"{kind}.{body}" if kind else body
        if not hmac.compare_digest(_sign(self._key, signed), m.group(3)):
            raise LinkRefused(expired=False)
        expires = int(m.group(2), 36)
        if now_s >= expires:
            raise LinkRefused(expired=True)
        return Link(int(m.group(1)), expires, token)

    def csrf(self, token: str) -> str:
        """The form token of one link's page: only a page served for that link has it."""
        return _sign(self._key, f"csrf:{token}", 22)

    def csrf_ok(self, token: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf(token), given)


def load_or_create_secret(configured: SecretStr | None, state_dir: Path) -> bytes:
    """The configured secret, else the one kept in `state_dir/link_secret` (made 0600 once).

    Blocking file I/O: call it in a thread. Links stay valid across restarts this way.
    """
    if configured is not None:
        return configured.get_secret_value().encode()
    path = Path(state_dir) / SECRET_FILE
    if path.exists():
        path.chmod(0o600)
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text.encode()
    private_dir(path.parent)
    text = secrets.token_urlsafe(32)
    tmp = path.with_name(path.name + ".tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        write_all(fd, text.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return text.encode()
