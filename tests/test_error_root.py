"""One error root: all errors raised on purpose are SolarWaterErrors; config ones print one line."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

from devices.errors import ConfigError, SolarWaterError
from tests.test_import_graph import modules

ROOT = Path(__file__).resolve().parents[1]
# Control flow, not an error: a signal handler unwinds the demo with it, past `except Exception`.
NOT_ERRORS = {"devstack.demo.Stop"}

# Runs a CLI's main() with one function replaced by a bug: a ValueError no one meant to raise.
BUG = """
import sys, importlib
module, name, cli = sys.argv[1:4]
def bug(*args, **kwargs):
    raise ValueError("injected bug")
setattr(importlib.import_module(module), name, bug)
sys.exit(importlib.import_module(cli).main(sys.argv[4:]))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


def test_every_exception_class_has_the_one_root() -> None:
    found, stray = [], []
    for name in modules():
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, BaseException) or cls.__module__ != name:
                continue
            found.append(f"{name}.{cls_name}")
            if f"{name}.{cls_name}" not in NOT_ERRORS and not issubclass(cls, SolarWaterError):
                stray.append(f"{name}.{cls_name}")
    assert len(found) >= 18, found  # the walk must see the classes it judges
    assert not stray, f"not a SolarWaterError: {stray}"


def test_config_mistakes_are_config_errors() -> None:
    from collector.alerts import AlertConfigError
    from collector.alerts.condition import ConditionError
    from devices.mqtturl import MqttUrlError
    from devices.stations import FleetError
    from simulator.scenarios import ScenarioError
    from simulator.station_model import ModelError

    for cls in (AlertConfigError, ConditionError, MqttUrlError, FleetError, ScenarioError):
        assert issubclass(cls, ConfigError), cls
    assert issubclass(ModelError, ConfigError)
    # still ValueErrors: raised in a pydantic validator they name the field at fault
    assert issubclass(ConfigError, ValueError)


def test_a_bug_in_the_collector_shows_its_traceback_not_a_config_error(tmp_path: Path) -> None:
    # Collector() runs inside asyncio.run, where `except ValueError` used to hide bugs
    proc = _run(
        "-c",
        BUG,
        "collector.service",
        "load_registry",
        "collector.cli",
        "--data-dir",
        str(tmp_path),
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().endswith("ValueError: injected bug"), proc.stderr
    assert not proc.stderr.startswith("collector: ")


def test_a_config_mistake_in_the_collector_is_still_one_line(tmp_path: Path) -> None:
    proc = _run("-m", "collector", "--fleet", str(tmp_path / "none.yaml"), "--check-config")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("collector: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_bug_in_the_simulator_shows_its_traceback() -> None:
    proc = _run(
        "-c",
        BUG,
        "simulator.cli",
        "run_simulation",
        "simulator.cli",
        "--mqtt-url",
        "mqtt://127.0.0.1:1",
        "--duration",
        "1h",
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().endswith("ValueError: injected bug"), proc.stderr


def test_a_config_mistake_in_the_simulator_is_one_line(tmp_path: Path) -> None:
    proc = _run(
        "-m", "simulator", "--mqtt-url", "mqtt://127.0.0.1:1", "--fleet", str(tmp_path / "x.yaml")
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("simulator: error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
