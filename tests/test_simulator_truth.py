"""The simulator's summary carries the truth of its scenario, through a real broker run."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from devstack import Mosquitto
from simulator import SimulationConfig, run_simulation
from simulator.cli import main

START = "2025-06-10T00:00:00+02:00"


def test_a_brown_out_run_says_when_the_modem_went_down_and_why(
    mosquitto: Mosquitto, prefix: str
) -> None:
    config = SimulationConfig(
        mqtt_url=mosquitto.url,
        prefix=prefix,
        start=datetime.fromisoformat(START),
        duration_s=18 * 3600,
        stations=2,
        speed=0,
        quiet=True,
        scenario="brown-out",
    )
    summary = run_simulation(config)
    truth = summary.to_json()["truth"]
    target = truth["stations"]["PEMBA-01"]
    # the load disconnect cut the modem: silent from the next tick, with the power to blame
    assert target["battery_lvd_at"] is not None
    (silence,) = target["silences"]
    assert silence["cause"] == "power" and silence["from"] > target["battery_lvd_at"]
    assert truth["stations"]["PEMBA-02"]["silences"] == []
    # what it logged while the modem was down came in as a backlog at the end of the run
    assert summary.backlog_messages > 0
    assert summary.dropped == {"buffer_full": 0, "silent": 0, "not_acknowledged": 0}


def test_the_summary_file_names_the_district_of_a_district_outage(
    mosquitto: Mosquitto, prefix: str, tmp_path: Path
) -> None:
    out = tmp_path / "summary.json"
    code = main([
        "--mqtt-url", mosquitto.url, "--prefix", prefix, "--stations", "3", "--duration", "8h",
        "--speed", "0", "--start", START, "--scenario", "district-gsm-outage",
        "--summary-json", str(out),
    ])  # fmt: skip
    assert code == 0
    truth = json.loads(out.read_text())["truth"]
    assert truth["facts"]["district"] == "Pemba"
    causes = {s: [x["cause"] for x in v["silences"]] for s, v in truth["stations"].items()}
    assert causes == {
        "PEMBA-01": ["district_network"],
        "PEMBA-02": ["district_network"],
        "MONTEPUEZ-01": [],
    }
