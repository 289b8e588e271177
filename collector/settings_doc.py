"""`python -m collector.settings_doc`: the README's configuration table, from the models."""

from __future__ import annotations

import sys

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from collector.config import Settings

# Sections documented in their own README chapter rather than row by row.
OWN_CHAPTER = {"alerts"}


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "(computed)"
    value = info.default
    if value is PydanticUndefined or value is None:
        return ""
    if isinstance(value, SecretStr):
        return "(secret)"
    return f"`{value}`"


def rows(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted name, environment variable, default, description) for every scalar setting."""
    out: list[tuple[str, str, str, str]] = []
    for name, info in model.model_fields.items():
        dotted = f"{prefix}{name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if dotted in OWN_CHAPTER:
                env = f"SOLARWATER_{dotted.upper()}__..."
                out.append((dotted, env, "", "See the Alerts chapter"))
            else:
                out += rows(annotation, dotted + ".")
            continue
        env = "SOLARWATER_" + dotted.upper().replace(".", "__")
        out.append((dotted, env, _default(info), info.description or ""))
    return out


def markdown() -> str:
    lines = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{d}` | `{e}` | {v} | {m} |" for d, e, v, m in rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
