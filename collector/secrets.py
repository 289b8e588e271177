"""Secrets given directly (environment) or through a file (Docker/Kubernetes secrets)."""

from __future__ import annotations

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
