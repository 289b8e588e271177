"""Routing without holes: severities fall through, the matrix, a hole refused at start-up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.alerts.coverage import hole_message, matrix, matrix_lines
from collector.alerts.routing import Router
from collector.alerts.settings import AlertSettings
from devices.stations import load_fleet
from devstack import Influxd, Mosquitto

ROOT = Path(__file__).resolve().parents[1]
FLEET = load_fleet()
DISTRICTS = sorted({s.district for s in FLEET.stations})
BUS = {"bus": {"type": "mqtt"}}


def docs_example() -> dict[str, Any]:
    """The `alerts:` example of docs/alerts.md "Notifiers and routing", its *_file keys left
    out (those files exist only on a real server)."""
    text = (ROOT / "docs" / "alerts.md").read_text()
    section = text.split("## Notifiers and routing", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    alerts: dict[str, Any] = yaml.safe_load(block.group(1))["alerts"]
    for n in alerts["notifiers"].values():
        for key in [k for k in n if k.endswith("_file")]:
            del n[key]
    alerts.pop("api_token_file", None)
    return alerts


def test_the_documented_example_reaches_every_pair_and_palma_warnings_fall_through() -> None:
    settings = AlertSettings.model_validate(docs_example())
    cells = matrix(settings, FLEET)
    assert hole_message(cells) is None
    assert {(c.place, c.severity) for c in cells} >= {(d, "warning") for d in DISTRICTS}
    router = Router(settings, FLEET)
    # the route limited to critical does not swallow Palma's warnings (station_silent is one)
    assert [t.route for t in router.targets("PALMA-01", "critical")] == ["norte"]
    assert [t.route for t in router.targets("PALMA-01", "warning")] == ["fallback"]
    assert [t.route for t in router.targets("PEMBA-01", "warning")] == ["pemba-metuge"]


def test_a_station_routed_apart_from_its_district_gets_its_own_row() -> None:
    settings = AlertSettings.model_validate(
        {
            "notifiers": BUS,
            "routes": [
                {"name": "all", "districts": DISTRICTS, "severities": ["critical"],
                 "notifiers": ["bus"]},
                {"name": "p1", "stations": ["PEMBA-01"], "severities": ["warning"],
                 "notifiers": ["bus"]},
            ],
        }
    )  # fmt: skip
    cells = matrix(settings, FLEET)
    pemba_warning = [c.place for c in cells if c.district == "Pemba" and c.severity == "warning"]
    assert pemba_warning == ["Pemba/PEMBA-01", "Pemba/PEMBA-02"]
    message = hole_message(cells)
    assert message is not None
    assert message.startswith("routing leaves (Ancuabe, warning) unreached")
    assert f"(+{len(DISTRICTS) - 1} more unreached)" in message  # PEMBA-02 is one of them


def test_nothing_configured_is_recording_only_and_says_so() -> None:
    lines = matrix_lines(AlertSettings(), FLEET)
    assert len(lines) == 1 and "nobody is paged" in lines[0]


def test_a_route_taking_no_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="severities"):
        AlertSettings.model_validate(
            {"notifiers": BUS,
             "routes": [{"name": "r", "districts": ["Pemba"], "severities": [],
                         "notifiers": ["bus"]}]}
        )  # fmt: skip


def holed_config(tmp_path: Path) -> Path:
    """Every district at both severities but Palma, which only has a critical route."""
    cfg = {
        "alerts": {
            "notifiers": BUS,
            "routes": [
                {"name": "south", "districts": [d for d in DISTRICTS if d != "Palma"],
                 "notifiers": ["bus"]},
                {"name": "norte", "districts": ["Palma"], "severities": ["critical"],
                 "notifiers": ["bus"]},
            ],
        }
    }  # fmt: skip
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def run_collector(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLARWATER_")}
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout,
    )  # fmt: skip


def test_a_collector_whose_routing_has_a_hole_stops_with_one_line_naming_the_pair(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, fresh_db: str
) -> None:
    proc = run_collector(
        "--config", str(holed_config(tmp_path)),
        "--mqtt-url", mosquitto.url, "--influx-url", influxd.url, "--influx-db", fresh_db,
        "--http", "127.0.0.1:0", "--data-dir", str(tmp_path / "var"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "collector: alerts: routing leaves (Palma, warning) unreached: no route takes it and the"
        " fallback does not take warning; add a route or fallback notifiers (--check-config"
        " prints the routing matrix)"
    ]
    assert proc.stdout == ""


def test_check_config_prints_the_matrix_and_refuses_the_hole(tmp_path: Path) -> None:
    holed = run_collector("--config", str(holed_config(tmp_path)), "--check-config")
    assert holed.returncode == 2 and "(Palma, warning)" in holed.stderr
    cfg = yaml.safe_load(holed_config(tmp_path).read_text())
    cfg["alerts"]["fallback"] = {"notifiers": ["bus"], "severities": ["warning"]}
    (tmp_path / "fixed.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    fixed = run_collector("--config", str(tmp_path / "fixed.yaml"), "--check-config")
    assert fixed.returncode == 0, fixed.stderr
    rows = re.findall(r"^  (\S.*?)\s+(warning|critical)\s+-> (.*)$", fixed.stdout, re.M)
    assert len(rows) == 2 * (len(DISTRICTS) + 1)  # and the unregistered stations' row
    assert ("Palma", "warning", "fallback: bus") in rows
    assert ("Palma", "critical", "norte: bus") in rows
    assert ("(unregistered)", "critical", "NOBODY") in rows  # not of the fleet: a warning only
    assert "NOBODY" not in "".join(r[2] for r in rows if r[0] != "(unregistered)")
