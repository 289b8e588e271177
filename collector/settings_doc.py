"""`python -m collector.settings_doc`: the docs' generated tables (settings, kind fields)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from collector.config import Settings
from collector.ingest.decoded import DecoderSettings
from collector.ingest.decoding import DECODERS, DEFAULT_DECODER
from collector.ingest.senml_fields import FieldName, names_of
from collector.store.sinks import DEFAULT_SINK, SINKS, SinkSettings
from devices.catalogue import KINDS
from devices.kind import DeviceKind, field_type, string_choices

DOCS = Path(__file__).resolve().parents[1] / "docs"
# Sections documented in their own chapter rather than row by row.
OWN_CHAPTER = {"alerts"}
_TYPE_NAMES = {float: "float", int: "integer", str: "string"}


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "(computed)"
    value = info.default
    if value is PydanticUndefined or value is None:
        return ""
    if value == "":
        return "(none)"
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
        if plugin.factory is None:
            continue
        for name, info in plugin.settings.model_fields.items():
            if name != "type":
                out.append(_row(f"{dotted}.{name}", info))
    return out


def gateway_rows(dotted: str, info: FieldInfo) -> list[tuple[str, str, str, str]]:
    """`ingest.gateways` by names, then each gateway decoder's own settings (`<name>.`)."""
    env = "SOLARWATER_" + dotted.upper().replace(".", "__")
    names = ", ".join(f"`{p.name}`" for p in DECODERS.values() if p.gateway is not None)
    out = [(dotted, env, names, info.description or "")]
    for plugin in DECODERS.values():
        if plugin.gateway is None:
            continue
        for name, sub in plugin.settings.model_fields.items():
            if name != "type":
                where = f"{dotted}[{plugin.name}].{name}"
                out.append((where, "(config file only)", _default(sub), sub.description or ""))
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
        if dotted == "ingest.gateways":
            out += gateway_rows(dotted, info)
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if dotted in OWN_CHAPTER:
                env = f"SOLARWATER_{dotted.upper()}__..."
                out.append((dotted, env, "", "See [alerts.md](alerts.md)"))
            else:
                out += rows(annotation, dotted + ".")
            continue
        out.append(_row(dotted, info))
    return out


def markdown() -> str:
    """The configuration table of docs/configuration.md."""
    lines = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{d}` | `{e}` | {v} | {m} |" for d, e, v, m in rows()]
    return "\n".join(lines) + "\n"


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(kind: DeviceKind, name: str) -> str:
    choices = string_choices(kind.model, name)
    if choices is not None:
        return ", ".join(f"`{c}`" for c in choices)
    low = high = None
    for bound in kind.model.model_fields[name].metadata:
        if isinstance(bound, annotated_types.Ge):
            low = bound.ge
        elif isinstance(bound, annotated_types.Le):
            high = bound.le
    if low is None and high is None:
        return "any"
    if high is None or (field_type(kind.model, name) is int and high == 2**31 - 1):
        return f"≥ {_number(low)}"
    if low is None:
        return f"≤ {_number(high)}"
    return f"{_number(low)} to {_number(high)}"


def kinds_markdown() -> str:
    """The field table of docs/contract.md, one row per field of every catalogue kind."""
    lines = [
        "| kind | field | unit | valid range | meaning | InfluxDB type |",
        "|---|---|---|---|---|---|",
    ]
    for kind in KINDS.values():
        for name in kind.model.model_fields:
            info = kind.info[name]
            meaning = info.label.en
            unit = info.unit or "–"
            cells = (kind.name, f"`{name}`", unit, _range(kind, name), meaning)
            lines.append(f"| {' | '.join(cells)} | {_TYPE_NAMES[field_type(kind.model, name)]} |")
    return "\n".join(lines) + "\n"


def _units(spec: FieldName) -> str:
    """`V`, `mV` (× 1/1000): the SenML units a name takes, each with its factor unless 1."""
    parts = []
    for unit, factor in spec.units.items():
        if unit is not None:
            parts.append(f"`{unit}`" + ("" if factor == 1 else f" (× {factor})"))
    none = "no unit" if None in spec.units else ""
    return ", ".join(([none] if none else []) + parts)


def senml_markdown() -> str:
    """The SenML names table of docs/contract.md: what each field's records may be called."""
    # field first: the kinds table above keeps the `| kind | field |` rows to itself
    lines = ["| field | kind | SenML name: units | value |", "|---|---|---|---|"]
    for kind in KINDS.values():
        by_field: dict[str, list[str]] = {}
        for senml_name, spec in names_of(kind.name).items():
            by_field.setdefault(spec.field, []).append(f"`{senml_name}`: {_units(spec)}")
        for name in kind.field_names:
            spec = names_of(kind.name)[name]
            value = "`vs`" if spec.text else "`v` or `vb`" if spec.switch else "`v`"
            lines.append(f"| `{name}` | {kind.name} | {'; '.join(by_field[name])} | {value} |")
    return "\n".join(lines) + "\n"


# (file under docs/, block name, its generator)
BLOCKS = (
    ("configuration.md", "settings", markdown),
    ("contract.md", "kinds", kinds_markdown),
    ("contract.md", "senml", senml_markdown),
)


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {name} [^>]*-->\n)(.*?)(<!-- END {name} -->)", re.S)


def generated(name: str, text: str) -> str | None:
    """The generated block `name` as it stands in a document's text, or None without one."""
    found = _pattern(name).search(text)
    return found.group(2) if found else None


def refresh(docs: Path = DOCS) -> list[str]:
    """Rewrite every generated block in place; the files that changed."""
    changed = []
    for filename, name, make in BLOCKS:
        path = docs / filename
        text = path.read_text()
        found = _pattern(name).search(text)
        if found is None:
            raise SystemExit(f"settings_doc: {path} has no <!-- BEGIN {name} --> block")
        new = text[: found.start(2)] + make() + text[found.end(2) :]
        if new != text:
            path.write_text(new)
            changed.append(filename)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Refresh the generated tables in docs/, or print the settings table with --stdout."""
    parser = argparse.ArgumentParser(prog="python -m collector.settings_doc", description=__doc__)
    parser.add_argument("--stdout", action="store_true", help="print the settings table only")
    args = parser.parse_args(argv)
    if args.stdout:
        sys.stdout.write(markdown())
        return 0
    for filename in refresh():
        print(f"updated docs/{filename}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
