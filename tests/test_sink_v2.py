"""The v2 sink (influxdb-client) against a fake InfluxDB 2.x `/api/v2/write`: the one fake we allow,
because no InfluxDB 2.x server can run on the test machines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from collector.store.sinks import SinkRejected, SinkUnavailable, make_sink
from collector.store.sinks.influx_v2 import InfluxV2Settings
from devstack import Influxd, Mosquitto, free_port
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)
from tests.test_collector_ingest import reading

TOKEN = "test-token-not-secret"


@dataclass
class FakeInflux2:
    """Records what a real InfluxDB 2.x would have been asked to write."""

    port: int
    bodies: list[str] = field(default_factory=list)
    params: list[dict[str, str]] = field(default_factory=list)
    answer: int = 204

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def lines(self) -> list[str]:
        return [line for body in self.bodies for line in body.splitlines() if line]


@pytest.fixture
async def fake_influx2() -> AsyncIterator[FakeInflux2]:
    fake = FakeInflux2(free_port())

    async def write(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return web.json_response({"code": "unauthorized"}, status=401)
        if fake.answer != 204:
            return web.json_response({"code": "invalid", "message": "bad"}, status=fake.answer)
        fake.params.append(dict(request.query))
        fake.bodies.append((await request.read()).decode())
        return web.Response(status=204)

    async def ping(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/v2/write", write)
    app.router.add_get("/ping", ping)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", fake.port).start()
    yield fake
    await runner.cleanup()


def v2_settings(fake: FakeInflux2, token: str = TOKEN) -> InfluxV2Settings:
    return InfluxV2Settings.model_validate(
        {"url": fake.url, "api": "v2", "org": "sw-org", "bucket": "sw-bucket", "token": token}
    )


async def test_v2_sink_writes_ms_precision_to_bucket(fake_influx2: FakeInflux2) -> None:
    sink = make_sink(v2_settings(fake_influx2))
    await sink.start()
    try:
        await sink.write(["solar,station=A pv_power_w=1.5 1700000000000"])
        assert await sink.ping()
    finally:
        await sink.close()
    assert fake_influx2.lines == ["solar,station=A pv_power_w=1.5 1700000000000"]
    params = fake_influx2.params[0]
    assert params["org"] == "sw-org" and params["bucket"] == "sw-bucket"
    assert params["precision"] == "ms"


async def test_v2_alert_transitions_go_to_the_events_bucket(fake_influx2: FakeInflux2) -> None:
    """`events_bucket` when set, else the same bucket (mapped as rp `events` for InfluxQL)."""
    settings = v2_settings(fake_influx2)
    own = InfluxV2Settings.model_validate(settings.model_dump() | {"events_bucket": "sw-events"})
    for s in (own, settings):
        sink = make_sink(s).events_sink()
        await sink.start()
        try:
            await sink.prepare()
            await sink.write(['alert,station=A,rule=r state="firing" 1700000000000'])
        finally:
            await sink.close()
    assert [p["bucket"] for p in fake_influx2.params] == ["sw-events", "sw-bucket"]


async def test_v2_sink_failures_are_classified(fake_influx2: FakeInflux2) -> None:
    sink = make_sink(v2_settings(fake_influx2, token="wrong"))
    await sink.start()
    try:
        with pytest.raises(SinkUnavailable):  # auth trouble: spool and retry, never drop
            await sink.write(["m v=1 1"])
    finally:
        await sink.close()
    fake_influx2.answer = 400
    sink = make_sink(v2_settings(fake_influx2))
    await sink.start()
    try:
        with pytest.raises(SinkRejected):
            await sink.write(["m v=1 1"])
    finally:
        await sink.close()
    unreachable = InfluxV2Settings.model_validate(
        {"url": f"http://127.0.0.1:{free_port()}", "api": "v2", "org": "o", "token": TOKEN}
    )
    sink = make_sink(unreachable)
    await sink.start()
    try:
        with pytest.raises(SinkUnavailable):
            await sink.write(["m v=1 1"])
    finally:
        await sink.close()


async def test_collector_through_v2(
    fake_influx2: FakeInflux2,
    mosquitto: Mosquitto,
    influxd: Influxd,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOLARWATER_INFLUX__TOKEN", TOKEN)
    overrides = collector_overrides(mosquitto, influxd, "unused", prefix, tmp_path / "c")
    del overrides["influx.db"]  # a v1 setting: the v2 sink's model refuses it
    overrides.update(
        {
            "influx.url": fake_influx2.url,
            "influx.api": "v2",
            "influx.org": "sw-org",
            "influx.bucket": "sw-bucket",
        }
    )
    async with running_collector(overrides) as collector:
        client = publisher(mosquitto)
        topic = f"{prefix}/PALMA-01/tank/tank1/telemetry"
        batch = {"readings": [reading(i, level_pct=40.0 + i) for i in range(3)]}
        publish_all(client, [(topic, json.dumps(batch).encode())])
        client.loop_stop()
        await wait_until(lambda: collector.metrics.counters["readings_written"] == 3)
    tank = [line for line in fake_influx2.lines if line.startswith("tank,")]
    assert len(tank) == 3
    assert all("district=Palma" in line and "station=PALMA-01" in line for line in tank)
