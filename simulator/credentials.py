"""Per-station broker logins from a 0600 file: YAML `station: password` or `station password`."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml
from pydantic import SecretStr

from devices.errors import ConfigError
from devices.topics import is_valid_id


def load_credentials(path: Path) -> dict[str, SecretStr]:
    """Station id → password; raises ValueError with one line for any problem."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"credentials file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read credentials file {path}: {exc}") from None
    # a password file others can read is a leak already: refuse it rather than use it
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(
            f"credentials file {path} has mode {stat.S_IMODE(mode):04o}; chmod 600 it"
        )
    pairs = _lines(text)
    if pairs is None:
        pairs = _yaml(path, text)
    if not pairs:
        raise ConfigError(f"credentials file {path} names no station")
    out: dict[str, SecretStr] = {}
    for station, password in pairs:
        if not is_valid_id(station):
            raise ConfigError(f"credentials file {path}: bad station id {station[:70]!r}")
        if not password:
            raise ConfigError(f"credentials file {path}: station {station} has an empty password")
        if station in out:
            raise ConfigError(f"credentials file {path}: station {station} is listed twice")
        out[station] = SecretStr(password)
    return out


def _lines(text: str) -> list[tuple[str, str]] | None:
    """`station password` lines (# comments, blank lines), or None when the text is not that."""
    pairs = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or parts[0].endswith(":"):
            return None
        pairs.append((parts[0], parts[1]))
    return pairs


def _yaml(path: Path, text: str) -> list[tuple[str, str]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        # the parser's message may quote the file, passwords included: say where only
        raise ConfigError(
            f"credentials file {path} is neither YAML nor 'station password' lines"
        ) from None
    if not isinstance(doc, dict):
        raise ConfigError(f"credentials file {path} must map station ids to passwords")
    pairs = []
    for station, password in doc.items():
        if not isinstance(password, str | int) or isinstance(password, bool):
            raise ConfigError(f"credentials file {path}: station {station}'s password is not text")
        pairs.append((str(station), str(password)))
    return pairs
