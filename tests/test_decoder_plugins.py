"""Decoder plugins own their settings: samples validate and decode; the registry drives config."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import orjson
import pytest
import yaml

from collector.config import ConfigError, load_settings
from collector.ingest.decoding import (
    DECODERS,
    DecodeLimits,
    Decoder,
    DecodeResult,
    DecoderPlugin,
    DecoderSettings,
    make_decoder,
)
from devices.stations import Fleet, load_fleet
from devices.topics import Topic, parse_topic

LIMITS = DecodeLimits(64 * 1024, 1000, 600_000, 1_577_836_800_000)
# One SoC reading a minute old, as each reading channel carries it.
SAMPLE_PAYLOADS = {
    "telemetry": lambda now_s: {"ts": now_s - 60, "battery_soc_pct": 61.5},
    "senml": lambda now_s: [{"bt": now_s - 60, "n": "battery_soc_pct", "v": 61.5}],
}


TELEMETRY = sorted(n for n, p in DECODERS.items() if p.factory is not None)
GATEWAYS = sorted(n for n, p in DECODERS.items() if p.gateway is not None)


@pytest.mark.parametrize("name", GATEWAYS)
def test_every_gateway_sample_validates(name: str, tmp_path: Path) -> None:
    plugin = DECODERS[name]
    assert [g["type"] for g in yaml.safe_load(plugin.sample)["ingest"]["gateways"]] == [name]
    cfg = tmp_path / "sample.yaml"
    cfg.write_text(plugin.sample)
    settings = load_settings(cfg)
    assert [type(g) for g in settings.ingest.gateways] == [plugin.settings]


def test_a_gateway_decoder_is_refused_as_the_telemetry_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOLARWATER_INGEST__DECODER", "venus")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "list it under ingest.gateways" in str(err.value)
    monkeypatch.delenv("SOLARWATER_INGEST__DECODER")
    monkeypatch.setenv("SOLARWATER_INGEST__GATEWAYS", "json")
    with pytest.raises(ConfigError, match="not a gateway decoder"):
        load_settings()
    monkeypatch.setenv("SOLARWATER_INGEST__GATEWAYS", "")
    assert load_settings().ingest.gateways == []
    monkeypatch.setenv("SOLARWATER_INGEST__GATEWAYS", "venus,venus")
    with pytest.raises(ConfigError, match="listed twice"):
        load_settings()


@pytest.mark.parametrize("name", TELEMETRY)
def test_every_decoder_sample_validates_and_decodes(name: str, tmp_path: Path) -> None:
    plugin = DECODERS[name]
    assert yaml.safe_load(plugin.sample)["ingest"]["decoder"]["type"] == name
    cfg = tmp_path / "sample.yaml"
    cfg.write_text(plugin.sample)
    settings = load_settings(cfg)
    assert type(settings.ingest.decoder) is plugin.settings
    decoder = make_decoder(settings.ingest.decoder, LIMITS, load_fleet())
    topic = parse_topic(f"solarwater/PEMBA-01/solar/mppt1/{plugin.channel}")
    now_ms = int(time.time() * 1000)
    payload = orjson.dumps(SAMPLE_PAYLOADS[plugin.channel](now_ms / 1000))
    result = decoder.decode(topic, payload, now_ms, now_ms)
    assert [r.fields for r in result.readings] == [{"battery_soc_pct": 61.5}]
    assert result.rejects == []


def test_a_decoder_name_alone_still_configures_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLARWATER_INGEST__DECODER", "json")
    assert load_settings().ingest.decoder.type == "json"
    monkeypatch.setenv("SOLARWATER_INGEST__DECODER", "cbor")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == (
        "config error: ingest.decoder.type: unknown decoder 'cbor'; known: json, senml, venus"
    )


class EchoSettings(DecoderSettings):
    """A decoder only this test knows."""

    type: Literal["echo"] = "echo"
    field_name: str


class EchoDecoder:
    """Decodes nothing; keeps its settings for the test to read."""

    def __init__(self, settings: EchoSettings) -> None:
        self.settings = settings

    def decode(self, topic: Topic, payload: bytes, received_ms: int, now_ms: int) -> DecodeResult:
        return DecodeResult()


def _make_echo(settings: EchoSettings, limits: DecodeLimits, fleet: Fleet) -> Decoder:
    return EchoDecoder(settings)


def test_a_registered_decoder_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = DecoderPlugin("echo", EchoSettings, _make_echo, "ingest:\n  decoder: {type: echo}\n")
    monkeypatch.setitem(DECODERS, "echo", plugin)
    settings = load_settings(None, {"ingest.decoder": {"type": "echo", "field_name": "x"}})
    assert isinstance(settings.ingest.decoder, EchoSettings)
    decoder = make_decoder(settings.ingest.decoder, LIMITS, load_fleet())
    assert isinstance(decoder, EchoDecoder) and decoder.settings.field_name == "x"
    with pytest.raises(ConfigError, match=r"ingest\.decoder\.field_name: Field required"):
        load_settings(None, {"ingest.decoder": "echo"})
