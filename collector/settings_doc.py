"""`python -m collector.settings_doc`: the README's configuration table, from the models."""

from __future__ import annotations

import sys

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from collector.config import Settings
from collector.ingest.decoding import DECODERS, DEFAULT_DECODER, DecoderSettings
from collector.store.sinks import DEFAULT_SINK, SINKS, SinkSettings

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


def _row(dotted: str, info: FieldInfo) -> tuple[str, str, str, str]:
    env = "SOLARWATER_" + dotted.upper().replace(".", "__")
    return (dotted, env, _default(info), info.description or "")


def sink_rows(prefix: str) -> list[tuple[str, str, str, str]]:
    """The shared sink settings, `api` from the registry, then each plugin's own settings."""
    shared = {n: i for n, i in SinkSettings.model_fields.items() if n != "api"}
    url, *rest = shared  # url first, then api: how the table has always read
    api = " or ".join(p.settings.model_fields["api"].description or p.name for p in SINKS.values())
    out = [_row(prefix + url, shared[url])]
    env = "SOLARWATER_" + f"{prefix}api".upper().replace(".", "__")
    out.append((f"{prefix}api", env, f"`{DEFAULT_SINK}`", api))
    for plugin in SINKS.values():
        for name, info in plugin.settings.model_fields.items():
            if name != "api" and name not in shared:
                out.append(_row(prefix + name, info))
    return out + [_row(prefix + n, shared[n]) for n in rest]


def decoder_rows(dotted: str) -> list[tuple[str, str, str, str]]:
    """`ingest.decoder` by name, then each decoder's own settings under it."""
    env = "SOLARWATER_" + dotted.upper().replace(".", "__")
    about = DecoderSettings.model_fields["type"].description or ""
    out = [(dotted, env, f"`{DEFAULT_DECODER}`", about)]
    for plugin in DECODERS.values():
        for name, info in plugin.settings.model_fields.items():
            if name != "type":
                out.append(_row(f"{dotted}.{name}", info))
    return out


def rows(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted name, environment variable, default, description) for every scalar setting."""
    out: list[tuple[str, str, str, str]] = []
    for name, info in model.model_fields.items():
        dotted = f"{prefix}{name}"
        annotation = info.annotation
        if annotation is SinkSettings:
            out += sink_rows(dotted + ".")
            continue
        if annotation is DecoderSettings:
            out += decoder_rows(dotted)
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if dotted in OWN_CHAPTER:
                env = f"SOLARWATER_{dotted.upper()}__..."
                out.append((dotted, env, "", "See the Alerts chapter"))
            else:
                out += rows(annotation, dotted + ".")
            continue
        out.append(_row(dotted, info))
    return out


def markdown() -> str:
    lines = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{d}` | `{e}` | {v} | {m} |" for d, e, v, m in rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
