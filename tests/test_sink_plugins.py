"""Sink plugins own their settings: samples validate, the registry drives config and CLI."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import pytest
import yaml
from pydantic import Field

from collector.args import parser
from collector.config import ConfigError, load_settings
from collector.store.sinks import SINKS, Sink, SinkPlugin, SinkSettings, make_sink
from devstack import Influxd, Mosquitto
from tests.collector_support import collector_overrides, running_collector, wait_until


@pytest.mark.parametrize("name", sorted(SINKS))
def test_every_sink_sample_validates_and_builds(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = SINKS[name]
    sample = yaml.safe_load(plugin.sample)
    assert set(sample) == {"influx"} and sample["influx"]["api"] == name
    monkeypatch.setenv("SOLARWATER_INFLUX__TOKEN", "sample-token-from-env")  # v2 takes one
    if "token" not in plugin.settings.model_fields:
        monkeypatch.delenv("SOLARWATER_INFLUX__TOKEN")
    cfg = tmp_path / "sample.yaml"
    cfg.write_text(plugin.sample)
    settings = load_settings(cfg)
    assert type(settings.influx) is plugin.settings
    assert settings.influx.url == sample["influx"]["url"]
    sink = make_sink(settings.influx)
    assert sink.name.startswith("influx-")
    assert callable(sink.prepare) and callable(sink.start)


def test_a_setting_of_another_plugin_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"influx.api": "v1", "influx.bucket": "b"})
    assert str(err.value) == (
        "config error: influx.bucket: Extra inputs are not permitted (api v1)"
    )


class FakeSettings(SinkSettings):
    """A sink only this test knows."""

    api: Literal["fake"] = "fake"
    depth: int = Field(1, ge=1)


class FakeSink:
    """Keeps lines in memory; records that the core prepared it."""

    name = "fake"
    instances: ClassVar[list[FakeSink]] = []

    def __init__(self, settings: FakeSettings) -> None:
        self.settings = settings
        self.prepared = 0
        self.lines: list[str] = []
        FakeSink.instances.append(self)

    async def start(self) -> None:
        return None

    async def prepare(self) -> None:
        self.prepared += 1

    async def write(self, lines: list[str]) -> None:
        self.lines += lines

    def events_sink(self) -> Sink:
        return FakeSink(self.settings)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _make_fake(settings: FakeSettings) -> Sink:
    return FakeSink(settings)


FAKE = SinkPlugin("fake", FakeSettings, _make_fake, "influx:\n  api: fake\n  depth: 2\n")


def test_registered_plugin_is_in_cli_choices_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    action = next(a for a in parser()._actions if a.dest == "influx_api")
    assert action.choices is not None and "fake" not in action.choices
    monkeypatch.setitem(SINKS, "fake", FAKE)
    action = next(a for a in parser()._actions if a.dest == "influx_api")
    assert action.choices is not None and sorted(action.choices) == sorted(SINKS)
    assert parser().parse_args(["--influx-api", "fake"]).influx_api == "fake"
    settings = load_settings(None, {"influx.api": "fake", "influx.depth": 3})
    assert isinstance(settings.influx, FakeSettings) and settings.influx.depth == 3
    with pytest.raises(ConfigError, match=r"influx\.depth: .*greater than or equal to 1"):
        load_settings(None, {"influx.api": "fake", "influx.depth": 0})
    with pytest.raises(ConfigError, match=r"influx\.api: unknown sink 'nope'; known: fake, v1"):
        load_settings(None, {"influx.api": "nope"})


async def test_core_prepares_whatever_sink_it_holds(
    mosquitto: Mosquitto,
    influxd: Influxd,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(SINKS, "fake", FAKE)
    FakeSink.instances.clear()
    overrides = collector_overrides(mosquitto, influxd, "unused", prefix, tmp_path)
    del overrides["influx.db"]
    overrides["influx.api"] = "fake"
    async with running_collector(overrides) as collector:
        assert collector.sink is FakeSink.instances[0]
        await wait_until(
            lambda: any(line.startswith("collector,") for line in FakeSink.instances[0].lines)
        )
    assert FakeSink.instances[0].prepared == 1
