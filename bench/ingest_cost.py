"""`python -m bench.ingest_cost`: the collector's CPU per message by stage, in one process.

No broker, no InfluxDB: the stages `python -m bench` measures end to end, each alone, on
the benchmark publisher's message (bench/c/swpub.c): the MQTT read path on 64 KB chunks
of QoS 1 PUBLISHes, Ingest.handle, the alert engine's observe_many and Writer.add.
Run it on two checkouts to compare (best of `--rounds`).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from collector.broker import client
from collector.broker.intake import Inbound
from collector.config import Settings, load_settings
from collector.service import Collector
from collector.store.writer import Batch

PREFIX = "bench"
STATIONS = 100


def payload(seq: int, ts: float) -> bytes:
    """The benchmark publisher's reading."""
    return (
        f'{{"ts":{ts:.3f},"seq":{seq},"pv_voltage_v":{40 + (seq % 100) / 10:.2f},'
        f'"pv_current_a":{8 + (seq % 50) / 10:.2f},"pv_power_w":{350 + seq % 200:.1f},'
        f'"battery_voltage_v":{25 + (seq % 30) / 10:.2f},"battery_current_a":'
        f'{10 + (seq % 40) / 10:.2f},"battery_soc_pct":{50 + seq % 50:.1f},'
        f'"load_power_w":{120 + seq % 80:.1f},"charge_state":"bulk"}}'
    ).encode()


def messages(n: int, now_s: float) -> list[tuple[str, bytes]]:
    """n messages over STATIONS stations, each station's seq and time counting up."""
    out = []
    for i in range(n):
        topic = f"{PREFIX}/S{i % STATIONS:05d}/solar/mppt1/telemetry"
        out.append((topic, payload(i // STATIONS, now_s - n / 1000 + i / 1000)))
    return out


def publish_packets(msgs: list[tuple[str, bytes]]) -> bytes:
    """The messages as QoS 1 PUBLISH packets without properties, as Mosquitto sends them."""
    from collector.broker.codec import publish_packet

    return b"".join(publish_packet(t, p, 1, False, i % 65535 + 1) for i, (t, p) in enumerate(msgs))


class _Sink(client.NativeMqttSource):
    """A source that drops what it is handed (only the parse is measured)."""

    def deliver(self, items: list[Inbound], now: float) -> None:
        self.last_message_at = now


def measure(what: str, fn: Callable[[], object], per: int, rounds: int, number: int) -> None:
    best = min(timeit.repeat(fn, number=number, repeat=rounds))
    print(f"{what:34s} {1e6 * best / number / per:7.2f} us/message")


async def run(args: argparse.Namespace, settings: Settings) -> None:
    now_s = time.time()
    msgs = messages(args.messages, now_s)
    wire = publish_packets(msgs)
    chunks = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    loop = asyncio.get_running_loop()
    source, _ = client.make_source(settings.mqtt, loop, 10_000)
    sink = _Sink(settings.mqtt, source.intake)

    def parse() -> None:
        link = client._Link(sink, 1)
        for chunk in chunks:
            link.data_received(chunk)

    measure("MQTT read path (_Link)", parse, len(msgs), args.rounds, 1)
    collector = Collector(settings)
    ingest, alerts = collector.ingest, collector.alerts
    now_ms = int(now_s * 1000)
    # the device tables, the clock estimate and the engine's state see each device first
    outs = []
    for topic, body in msgs:
        out = ingest.handle(topic, body, now_ms, now_ms)
        outs.append((list(out.lines), list(out.readings)))
    assert all(lines for lines, _ in outs), "a benchmark message was refused"

    def handle() -> None:
        for topic, body in msgs:
            ingest.handle(topic, body, now_ms, now_ms)

    measure("Ingest.handle", handle, len(msgs), args.rounds, 1)
    if alerts is not None:

        def observe() -> None:
            for _, readings in outs:
                alerts.observe_many(readings)

        measure("AlertService.observe_many", observe, len(msgs), args.rounds, 1)

    def add() -> None:
        batch = Batch()
        for lines, readings in outs:
            batch.lines.extend(lines)
            batch.readings += len(readings)
        "\n".join(batch.lines).encode()

    measure("batch and body (Writer.add, join)", add, len(msgs), args.rounds, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_cost")
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="swcost-") as tmp:
        overrides = {
            "mqtt.prefix": PREFIX,
            "data_dir": str(Path(tmp)),
            "ingest.max_unregistered_stations": 100_000,
        }
        asyncio.run(run(args, load_settings(None, overrides)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
