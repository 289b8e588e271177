"""A Node-RED user folder for one run: the flow (from flow.json) and a headless settings.js."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent / "flow.json"


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """What the flow template leaves open."""

    mqtt_host: str
    mqtt_port: int
    client_id: str
    topic_filter: str
    influx_host: str
    influx_port: int
    influx_db: str
    batch_size: int
    flush_s: float


def _fill(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str) and node.startswith("{{") and node.endswith("}}"):
        return values[node[2:-2]]
    return node


def flow(settings: FlowSettings) -> list[dict[str, Any]]:
    """The template with every `{{name}}` placeholder replaced (as strings, like the editor)."""
    values = {
        "mqtt_host": settings.mqtt_host,
        "mqtt_port": str(settings.mqtt_port),
        "client_id": settings.client_id,
        "topic_filter": settings.topic_filter,
        "influx_host": settings.influx_host,
        "influx_port": str(settings.influx_port),
        "influx_db": settings.influx_db,
        "batch_size": str(settings.batch_size),
        "flush_s": str(settings.flush_s),
    }
    filled: list[dict[str, Any]] = _fill(json.loads(TEMPLATE.read_text()), values)
    return filled


def settings_js(port: int) -> str:
    """Headless-ish settings: admin API on loopback only, no telemetry, no projects."""
    return (
        "module.exports = {\n"
        '    uiHost: "127.0.0.1",\n'
        f"    uiPort: {port},\n"
        '    flowFile: "flows.json",\n'
        "    flowFilePretty: true,\n"
        "    credentialSecret: false,\n"
        "    diagnostics: { enabled: false, ui: false },\n"
        "    telemetry: { enabled: false },\n"
        "    editorTheme: { projects: { enabled: false }, tours: false },\n"
        "    logging: { console: { level: 'info', metrics: false, audit: false } },\n"
        "};\n"
    )


def write_user_dir(user_dir: Path, port: int, settings: FlowSettings) -> Path:
    """Write flows.json and settings.js into `user_dir`; return the settings file."""
    user_dir.mkdir(parents=True, exist_ok=True)
    (user_dir / "flows.json").write_text(json.dumps(flow(settings), indent=2))
    path = user_dir / "settings.js"
    path.write_text(settings_js(port))
    return path
