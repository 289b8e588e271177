"""Secrets given directly (environment) or through a file (Docker/Kubernetes secrets)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from pydantic import SecretStr


def load_secret(inline: SecretStr | None, path: Path | None, name: str) -> SecretStr | None:
    """The secret given inline or in a file (stripped); both at once, or an empty file, is an error.

    Raises ValueError with a one-line message that never contains the secret.
    """
    if inline is not None and path is not None:
        raise ValueError(f"give {name} or {name}_file, not both")
    if path is None:
        return inline
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{name}_file {path}: {exc.strerror or exc}") from None
    if not text:
        raise ValueError(f"{name}_file {path} is empty")
    return SecretStr(text)


MIN_TOKEN_CHARS = 24
# Words that mark a value someone meant to replace; matched case-insensitively with
# separators removed, so "Change-Me", "change_me" and "changeme123..." are all caught.
PLACEHOLDER_WORDS = (
    "changeme",
    "replaceme",
    "secret",
    "password",
    "passwd",
    "token",
    "example",
    "test",
    "dummy",
    "placeholder",
    "default",
    "letmein",
    "qwerty",
    "xxxx",
    "12345678",
    "abcdefgh",
)
# A random token of 24+ characters has far more distinct characters than this.
MIN_DISTINCT_CHARS = 8


def token_weakness(token: str) -> str | None:
    """Why `token` is too weak to guard an API (never quoting it), or None when it is fine."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"is {len(token)} characters; use at least {MIN_TOKEN_CHARS}"
    folded = "".join(c for c in token.lower() if c.isalnum())
    for word in PLACEHOLDER_WORDS:
        if word in folded:
            return f"looks like a placeholder (contains {word!r})"
    if len(set(token)) < MIN_DISTINCT_CHARS:
        return f"has fewer than {MIN_DISTINCT_CHARS} different characters"
    return None


def url_has_password(url: object) -> bool:
    """Whether `url` carries a password in its user:pass@ part."""
    if not isinstance(url, str):
        return False
    try:
        return urllib.parse.urlsplit(url).password is not None
    except ValueError:
        return False  # the setting's own validator explains a malformed URL
