"""The simulator against a real Mosquitto: counts, status and Will, store-and-forward, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.catalogue import KINDS
from devices.topics import parse_topic
from devstack import Mosquitto
from simulator import SimulationConfig, Summary, run_simulation

START = "2025-02-10T00:00:00+02:00"
ROOT = Path(__file__).resolve().parents[1]
DEV = len(KINDS)  # devices per sample station: one of each kind (tests/test_devices.py)


@dataclass
class Got:
    """One reading as a subscriber received it."""

    station: str
    device: str
    kind: str
    seq: int
    ts: str
    fields: dict[str, Any]
    backlog: bool


@dataclass
class Subscriber:
    """A QoS 1 subscriber on `{prefix}/#` that keeps every message."""

    url_port: int
    prefix: str
    client_id: str = field(default_factory=lambda: "t-" + uuid.uuid4().hex[:8])
    persistent: bool = False
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=not self.persistent
        )
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(f"{self.prefix}/#", qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def start(self) -> Subscriber:
        self.client.connect("127.0.0.1", self.url_port)
        self.client.loop_start()
        assert self.subscribed.wait(5)
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def telemetry(self) -> list[tuple[str, bytes]]:
        with self.lock:
            return [(t, p) for t, p, _ in self.messages if t.endswith("/telemetry")]

    def status(self) -> list[tuple[str, bytes, bool]]:
        with self.lock:
            return [m for m in self.messages if m[0].endswith("/status")]

    def readings(self) -> list[Got]:
        out = []
        for topic, payload in self.telemetry():
            t = parse_topic(topic, self.prefix)
            body = json.loads(payload)
            backlog = "readings" in body
            for r in body["readings"] if backlog else [body]:
                seq, ts = r.pop("seq"), r.pop("ts")
                out.append(Got(t.station, t.device, t.kind, seq, ts, r, backlog))
        return out

    def wait_for(self, cond: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.05)
        return cond()


@pytest.fixture
def sub(mosquitto: Mosquitto, prefix: str) -> Iterator[Subscriber]:
    s = Subscriber(mosquitto.port, prefix).start()
    yield s
    s.stop()


def _config(url: str, prefix: str, **kw: Any) -> SimulationConfig:
    base: dict[str, Any] = {
        "mqtt_url": url,
        "prefix": prefix,
        "start": datetime.fromisoformat(START),
        "quiet": True,
        "scenario": "none",
    }
    base.update(kw)
    return SimulationConfig(**base)


def _unique(got: list[Got]) -> dict[tuple[str, str, int], Got]:
    seen: dict[tuple[str, str, int], Got] = {}
    for g in got:
        seen.setdefault((g.station, g.device, g.seq), g)
    return seen


def test_subscriber_counts_exactly_what_the_summary_says(
    mosquitto: Mosquitto, prefix: str, sub: Subscriber
) -> None:
    cfg = _config(mosquitto.url, prefix, stations=3, duration_s=6 * 3600)
    summary = run_simulation(cfg, record=True)
    assert summary.readings.total == 3 * DEV * 72
    assert summary.messages.total == summary.readings.total  # no outage: one reading a message
    assert sub.wait_for(lambda: len(sub.telemetry()) >= summary.messages.total)
    time.sleep(0.3)
    got = sub.readings()
    assert len(sub.telemetry()) == summary.messages.total
    assert len(got) == summary.readings.total
    by_station: dict[str, dict[str, int]] = {}
    for g in got:
        per = by_station.setdefault(g.station, {})
        per[g.kind] = per.get(g.kind, 0) + 1
        KINDS[g.kind].validate(g.fields)
        assert g.ts.endswith("+02:00")
        assert not g.backlog
    assert by_station == summary.readings.by_station
    for station, device in {(g.station, g.device) for g in got}:
        seqs = [g.seq for g in got if (g.station, g.device) == (station, device)]
        assert seqs == list(range(72))
    # the recorded readings are what went over the wire
    assert len(summary.records) == summary.readings.total
    rec = summary.records[100]
    match = [
        g for g in got
        if g.station == rec.station and g.device == rec.device
        and int(datetime.fromisoformat(g.ts).timestamp() * 1000) == rec.ts_ms
    ]  # fmt: skip
    assert len(match) == 1 and match[0].fields == dict(rec.fields)
    # status: online at connect, offline at clean exit, both retained
    assert summary.status_messages == 2 * 3 * DEV
    late = Subscriber(mosquitto.port, prefix).start()
    try:
        assert late.wait_for(lambda: len(late.status()) == 3 * DEV, 5)
        assert all(p == b'{"state":"offline"}' and retained for _, p, retained in late.status())
    finally:
        late.stop()


def test_last_will_marks_a_killed_station_offline_in_one_message(
    mosquitto: Mosquitto, prefix: str
) -> None:
    sub = Subscriber(mosquitto.port, prefix).start()
    cmd = [
        sys.executable, "-m", "simulator", "--mqtt-url", mosquitto.url, "--prefix", prefix,
        "--stations", "1", "--duration", "2h", "--speed", "1", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE)
    online, will = b'{"state":"online"}', b'{"state":"offline","scope":"station"}'
    first = f"{prefix}/PEMBA-01/solar/mppt1/status"
    try:
        assert sub.wait_for(lambda: sum(p == online for _, p, _ in sub.status()) == DEV, 10)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        # one connection, one Will: the station's scope, on its first device's status topic
        assert sub.wait_for(lambda: any(p == will for _, p, _ in sub.status()), 10)
        time.sleep(0.2)
        assert [t for t, p, _ in sub.status() if p != online] == [first]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sub.stop()
    late = Subscriber(mosquitto.port, prefix).start()
    try:
        assert late.wait_for(lambda: len(late.status()) == DEV, 5)
        retained = {t: p for t, p, r in late.status() if r}
        # the other device keeps its retained `online`: the scope says it is offline too
        assert retained == {
            first: will,
            f"{prefix}/PEMBA-01/tank/tank1/status": online,
            f"{prefix}/PEMBA-01/lighting/lights1/status": online,
        }
    finally:
        late.stop()


TICKS = 24


@pytest.mark.slow
def test_broker_restart_loses_nothing(tmp_path: Path, prefix: str) -> None:
    broker = Mosquitto(tmp_path / "broker")  # devstack keeps persistence writable as root
    broker.start()
    sub = Subscriber(broker.port, prefix, client_id="t-persist-" + prefix, persistent=True).start()
    # 24 ticks 0.2 s apart in real time: the broker goes down after tick 7 and stays down a second
    cfg = _config(broker.url, prefix, stations=2, duration_s=TICKS * 300, speed=1500.0)
    result: list[Summary] = []
    runner = threading.Thread(target=lambda: result.append(run_simulation(cfg, record=True)))
    try:
        runner.start()
        assert sub.wait_for(lambda: len(sub.telemetry()) > 0, 10)
        first = time.monotonic()
        time.sleep(max(0.0, first + 6 * 0.2 + 0.1 - time.monotonic()))
        broker.stop()
        time.sleep(1.0)
        broker.start()
        runner.join(60)
        assert result, "the run did not finish"
        summary = result[0]
        assert summary.readings.total == 2 * DEV * TICKS
        assert summary.dropped == {"buffer_full": 0, "silent": 0, "not_acknowledged": 0}
        assert summary.backlog_messages >= 1
        arrived = sub.wait_for(lambda: len(_unique(sub.readings())) >= summary.readings.total, 20)
        got = sub.readings()
        assert arrived, f"{len(_unique(got))} of {summary.readings.total}"
        unique = _unique(got)
        assert len(unique) == summary.readings.total
        recorded = {(r.station, r.device, r.ts_ms) for r in summary.records}
        received = {
            (g.station, g.device, int(datetime.fromisoformat(g.ts).timestamp() * 1000))
            for g in unique.values()
        }
        assert received == recorded
        assert any(g.backlog for g in got)
        for key in {(g.station, g.device) for g in got}:
            first_seen: list[int] = []
            for g in got:
                if (g.station, g.device) == key and g.seq not in first_seen:
                    first_seen.append(g.seq)
            assert first_seen == list(range(TICKS))  # every reading, in order
    finally:
        sub.stop()
        broker.stop()


def test_gsm_outage_buffers_and_flushes_a_backlog(
    mosquitto: Mosquitto, prefix: str, sub: Subscriber
) -> None:
    cfg = _config(mosquitto.url, prefix, stations=2, duration_s=10 * 3600, scenario="gsm-outage")
    summary = run_simulation(cfg)
    assert summary.readings.total == 2 * DEV * 120
    assert summary.backlog_messages >= 2
    assert sub.wait_for(lambda: len(_unique(sub.readings())) >= summary.readings.total)
    got = sub.readings()
    target = "PEMBA-01"
    t0 = datetime.fromisoformat(START).timestamp()
    for device in ("mppt1", "tank1"):
        backlog = [g for g in got if g.station == target and g.device == device and g.backlog]
        offsets = [datetime.fromisoformat(g.ts).timestamp() - t0 for g in backlog]
        outage = [o for o in offsets if 2 * 3600 <= o < 8 * 3600]
        assert len(outage) == 72  # every reading of the outage came as backlog
        # the reading taken as the link came back rides with the backlog; nothing later does
        assert max(offsets) <= 8 * 3600
        assert offsets == sorted(offsets)
        seqs = sorted({g.seq for g in got if g.station == target and g.device == device})
        assert seqs == list(range(120))
    assert not any(g.backlog for g in got if g.station != target)
    for _, payload in sub.telemetry():
        body = json.loads(payload)
        assert len(body.get("readings", [body])) <= 100
    states = [json.loads(p) for t, p, _ in sub.status() if f"/{target}/" in t]
    # per device online, online again after the outage, offline at exit; one Will between
    assert [s["state"] for s in states].count("online") == 2 * DEV
    assert states.count({"state": "offline"}) == DEV
    assert states.count({"state": "offline", "scope": "station"}) == 1


def test_a_full_buffer_drops_the_oldest_and_counts_them(
    mosquitto: Mosquitto, prefix: str, tmp_path: Path
) -> None:
    cfg = _config(
        mosquitto.url, prefix, stations=2, duration_s=10 * 3600, scenario="gsm-outage",
        buffer_max=10, state_dir=tmp_path / "state",
    )  # fmt: skip
    summary = run_simulation(cfg)
    dropped = summary.dropped["buffer_full"]
    assert dropped >= DEV * (72 - 10)
    assert summary.readings.total + dropped == 2 * DEV * 120
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [
        "PEMBA-01-lights1.jsonl", "PEMBA-01-mppt1.jsonl", "PEMBA-01-tank1.jsonl",
        "PEMBA-02-lights1.jsonl", "PEMBA-02-mppt1.jsonl", "PEMBA-02-tank1.jsonl",
    ]  # fmt: skip


def test_silent_station_sends_nothing_for_two_hours(
    mosquitto: Mosquitto, prefix: str, sub: Subscriber
) -> None:
    cfg = _config(
        mosquitto.url, prefix, stations=2, duration_s=6 * 3600, scenario="silent-station",
        scenario_station="PEMBA-02",
    )  # fmt: skip
    summary = run_simulation(cfg)
    assert summary.dropped["silent"] == DEV * 24
    assert summary.readings.total == 2 * DEV * 72 - DEV * 24
    assert summary.readings.by_station["PEMBA-02"] == {"solar": 48, "tank": 48, "lighting": 48}
    assert sub.wait_for(lambda: len(sub.readings()) >= summary.readings.total)
    t0 = datetime.fromisoformat(START).timestamp()
    silent = [
        g for g in sub.readings()
        if g.station == "PEMBA-02"
        and 3 * 3600 <= datetime.fromisoformat(g.ts).timestamp() - t0 < 5 * 3600
    ]  # fmt: skip
    assert silent == []


def test_default_start_is_never_in_the_future(mosquitto: Mosquitto, prefix: str) -> None:
    cfg = _config(mosquitto.url, prefix, stations=1, duration_s=3600, start=None)
    summary = run_simulation(cfg, record=True)
    assert summary.readings.total == DEV * 12
    assert max(r.ts_ms for r in summary.records) <= time.time() * 1000
    assert all(r.ts_ms % 300_000 == 0 for r in summary.records)


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--mqtt-url", "ftp://example"],
        ["--mqtt-url", "mqtt://h:99999"],
        ["--mqtt-url", "mqtt://h", "--duration", "0s"],
        ["--mqtt-url", "mqtt://h", "--duration", "5m", "--interval", "10m"],
        ["--mqtt-url", "mqtt://h", "--interval", "five"],
        ["--mqtt-url", "mqtt://h", "--start", "yesterday"],
        ["--mqtt-url", "mqtt://h", "--start", "2025-01-01T00:00:00"],
        ["--mqtt-url", "mqtt://h", "--stations", "0"],
        ["--mqtt-url", "mqtt://h", "--speed", "-1"],
        ["--mqtt-url", "mqtt://h", "--scenario", "meteor"],
        ["--mqtt-url", "mqtt://h", "--scenario-station", "NOWHERE-01"],
        ["--mqtt-url", "mqtt://h", "--fleet", "/nonexistent/fleet.yaml"],
        ["--mqtt-url", "mqtt://h", "--ca-file", "/nonexistent/ca.pem"],
        ["--mqtt-url", "mqtt://h", "--prefix", "a/#"],
        ["--mqtt-url", "mqtt://h", "--buffer-max", "0"],
    ],
)
def test_cli_bad_arguments_give_one_line_and_exit_2(args: list[str]) -> None:
    r = _cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simulator: error:"), r.stderr
    assert "Traceback" not in r.stderr


def test_cli_unreachable_broker_is_one_line(tmp_path: Path) -> None:
    from devstack import free_port

    r = _cli("--mqtt-url", f"mqtt://127.0.0.1:{free_port()}", "--duration", "1h")
    assert r.returncode == 1
    assert (
        r.stderr.strip().splitlines() == [r.stderr.strip().splitlines()[0]]
        and "cannot connect to broker" in r.stderr
    )
    assert "Traceback" not in r.stderr


def test_cli_paces_real_time_and_writes_the_summary(
    mosquitto: Mosquitto, prefix: str, tmp_path: Path
) -> None:
    out = tmp_path / "summary.json"
    began = time.monotonic()
    # 12 ticks of 5 min at 3600x: about one second of real time
    r = _cli(
        "--mqtt-url", mosquitto.url, "--prefix", prefix, "--stations", "2", "--duration", "1h",
        "--interval", "5m", "--speed", "3600", "--start", START, "--summary-json", str(out),
        "--seed", "5", "--scenario", "controller-fault",
    )  # fmt: skip
    elapsed = time.monotonic() - began
    assert r.returncode == 0, r.stderr
    assert elapsed >= 0.9
    s = json.loads(out.read_text())
    assert s["readings"] == {
        "total": 72,
        "by_kind": {"solar": 24, "tank": 24, "lighting": 24},
        "by_station": {
            "PEMBA-01": {"solar": 12, "tank": 12, "lighting": 12},
            "PEMBA-02": {"solar": 12, "tank": 12, "lighting": 12},
        },
    }
    assert s["messages"]["total"] == 72
    assert s["status_messages"] == 2 * 2 * DEV
    assert s["start"] == START and s["end"] == "2025-02-10T01:00:00+02:00"
    assert (s["interval_s"], s["seed"], s["scenario"]) == (300, 5, "controller-fault")
    assert s["dropped"] == {"buffer_full": 0, "silent": 0, "not_acknowledged": 0}
