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
from typing import TypeVar

from collector.broker import client
from collector.broker.intake import Inbound
from collector.config import Settings, load_settings
from collector.ingest.readings import Reading
from collector.service import Collector
from collector.store.writer import Batch

PREFIX = "bench"
T = TypeVar("T")
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


def messages(n: int, now_s: float, first: int = 0) -> list[tuple[str, bytes, int]]:
    """Messages first..first+n over STATIONS stations, each station's seq and time counting
    up to `now_s` (the last), so every round is new to the seq table, clock and engine;
    with the time each is received (20 ms after its `ts`)."""
    out = []
    for i in range(first, first + n):
        topic = f"{PREFIX}/S{i % STATIONS:05d}/solar/mppt1/telemetry"
        ts = now_s - (first + n - i) / 1000
        out.append((topic, payload(i // STATIONS, ts), int(ts * 1000) + 20))
    return out


def publish_packets(msgs: list[tuple[str, bytes, int]]) -> bytes:
    """The messages as QoS 1 PUBLISH packets without properties, as Mosquitto sends them."""
    from collector.broker.codec import publish_packet

    return b"".join(
        publish_packet(t, p, 1, False, i % 65535 + 1) for i, (t, p, _) in enumerate(msgs)
    )


class _Sink(client.NativeMqttSource):
    """A source that drops what it is handed (only the parse is measured)."""

    def deliver(self, items: list[Inbound], now: float) -> None:
        self.last_message_at = now


def measure(what: str, fn: Callable[[], object], per: int, rounds: int) -> None:
    best = min(timeit.repeat(fn, number=1, repeat=rounds))
    print(f"{what:34s} {1e6 * best / per:7.2f} us/message")


def fresh(rounds: list[T]) -> Callable[[], T]:
    """Each call the next round's input: a repeat would meet the duplicate paths."""
    it = iter(rounds)
    return lambda: next(it)


async def run(args: argparse.Namespace, settings: Settings) -> None:
    n, rounds = args.messages, args.rounds
    now_s = time.time()
    # round k's messages; the warm-up round (-1) lets every table see each device first
    msgs = [messages(n, now_s - (rounds - k) * n / 1000, (k + 1) * n) for k in range(-1, rounds)]
    loop = asyncio.get_running_loop()
    source, _ = client.make_source(settings.mqtt, loop, 10_000)
    sink = _Sink(settings.mqtt, source.intake)
    wire = publish_packets(msgs[0])
    chunks = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]

    def parse() -> None:
        link = client._Link(sink, 1)
        for chunk in chunks:
            link.data_received(chunk)

    measure("MQTT read path (_Link)", parse, n, rounds)
    collector = Collector(settings)
    ingest, alerts = collector.ingest, collector.alerts
    outs: list[list[tuple[list[str], list[Reading]]]] = []
    for batch in msgs:
        outs.append([])
        for topic, body, received_ms in batch:
            out = ingest.handle(topic, body, received_ms, received_ms)
            outs[-1].append((list(out.lines), list(out.readings)))
    assert all(len(rs) == 1 for out in outs for _, rs in out), "a message was refused"
    # the same rounds again, for the alert engine's stage; ingest goes through fresh ones
    more = fresh([messages(n, now_s + k * n / 1000, (rounds + k + 2) * n) for k in range(rounds)])

    def handle() -> None:
        for topic, body, received_ms in more():
            ingest.handle(topic, body, received_ms, received_ms)

    measure("Ingest.handle", handle, n, rounds)
    if alerts is not None:
        engine = alerts.engine
        engine.observe_many(r for _, rs in outs[0] for r in rs)  # warm-up round
        seen = fresh(outs[1:])

        def observe() -> None:
            for _, readings in seen():
                alerts.observe_many(readings)

        measure("AlertService.observe_many", observe, n, rounds)
        assert engine.out_of_order == 0, "the engine skipped readings as out of order"

    def add() -> None:
        batch = Batch()
        for lines, readings in outs[0]:
            batch.lines.extend(lines)
            batch.readings += len(readings)
        "\n".join(batch.lines).encode()

    measure("batch and body (Writer.add, join)", add, n, rounds)


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
