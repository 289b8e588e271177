"""Per-technician API tokens, stored as SHA-256 hashes, each scoped to some districts.

Tokens are 32 random bytes (secrets.token_urlsafe), so a plain SHA-256 is enough to keep the
file from giving them away; a slow hash would only slow every request. The file is YAML,
`[{name, districts, token_sha256}]`, written 0600 by `python -m collector.alerts.technician_tokens`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from collector.private_files import open_private, write_all

TOKEN_PREFIX = "swt_"


class TechnicianSettings(BaseModel):
    """One technician: who they are, the districts they may act on, their token's hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    districts: tuple[str, ...] = Field(min_length=1)
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


_LIST = TypeAdapter(list[TechnicianSettings])


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made an API call: the admin token (districts None: everywhere) or a technician."""

    name: str
    districts: frozenset[str] | None

    def may_act_on(self, district: str | None) -> bool:
        return self.districts is None or (district is not None and district in self.districts)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def read_file(path: Path) -> list[TechnicianSettings]:
    """The technicians of a file (missing: none); ValueError with one line when it is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"technicians_file {path}: {exc}") from None
    try:
        return _LIST.validate_python(raw or [])
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(x) for x in e["loc"])
        raise ValueError(f"technicians_file {path}: {where}: {e['msg']}") from None


def write_file(path: Path, techs: list[TechnicianSettings]) -> None:
    """Replace the file atomically, 0600 (it names people and their districts)."""
    text = yaml.safe_dump([t.model_dump(mode="json") for t in techs], sort_keys=False)
    tmp = path.with_name(path.name + ".tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        write_all(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Technicians:
    """The configured technicians plus a file's, reread when the file changes."""

    def __init__(self, inline: tuple[TechnicianSettings, ...], path: Path | None) -> None:
        self.inline = inline
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._from_file: list[TechnicianSettings] = []
        self.reload_errors = 0
        if path is not None:
            self.refresh()

    def refresh(self) -> None:
        """Reread the file if it changed (blocking: run it in a thread); keep the old on error."""
        if self.path is None:
            return
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # the CLI replaces the file
        except FileNotFoundError:
            stamp = (0, 0, 0)
        if stamp == self._stamp:
            return
        try:
            self._from_file = read_file(self.path)
        except ValueError:
            if self._stamp is None:
                raise  # at start-up: a config error
            self.reload_errors += 1
            return
        self._stamp = stamp

    def all(self) -> list[TechnicianSettings]:
        return [*self.inline, *self._from_file]

    def identify(self, token: str) -> Identity | None:
        """The technician whose hash matches (compared in constant time, every one of them)."""
        digest = token_hash(token).encode()
        found = None
        for t in self.all():
            if hmac.compare_digest(digest, t.token_sha256.encode()) and found is None:
                found = Identity(t.name, frozenset(t.districts))
        return found
