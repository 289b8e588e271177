"""`python -m bench.decode_cost`: JsonDecoder.decode alone, microseconds per message (no broker).

Payloads as the benchmark publisher (bench/c/swpub.c) writes them: a bare reading with
epoch seconds, a backlog batch of 100, and a bare reading with an RFC 3339 timestamp.
Run it on two checkouts to compare decoder changes (best of `--rounds`); the last line is
the solar field set's line-protocol text alone (DeviceKind.fields_text).
"""

from __future__ import annotations

import argparse
import time
import timeit

from collector.ingest.decoded import DecodeLimits
from collector.ingest.decoding import JsonDecoder
from devices.catalogue import KINDS
from devices.stations import load_fleet
from devices.topics import Topic


def _reading(ts: str, seq: int) -> str:
    return (
        f'{{"ts":{ts},"seq":{seq},"pv_voltage_v":41.20,"pv_current_a":8.30,"pv_power_w":352.0,'
        '"battery_voltage_v":25.30,"battery_current_a":10.40,"battery_soc_pct":57.0,'
        '"load_power_w":121.0,"charge_state":"bulk"}'
    )


def payloads(now_s: float) -> dict[str, bytes]:
    """Name -> payload of the measured cases."""
    batch = ",".join(_reading(f"{now_s - 100 + i:.3f}", i) for i in range(100))
    return {
        "one reading, epoch ts": _reading(f"{now_s - 1:.3f}", 7).encode(),
        "batch of 100, epoch ts": f'{{"readings":[{batch}]}}'.encode(),
        "one reading, RFC 3339 ts": _reading('"2026-01-01T09:00:00.250+02:00"', 7).encode(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.decode_cost")
    p.add_argument("--number", type=int, default=20_000, help="decodes per round")
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    now_ms = int(time.time() * 1000)
    decoder = JsonDecoder(DecodeLimits(64 * 1024, 1000, 600_000, 1_577_836_800_000), load_fleet())
    topic = Topic("solarwater", "PEMBA-01", "solar", "mppt1", "telemetry")
    for name, payload in payloads(now_ms / 1000).items():
        result = decoder.decode(topic, payload, now_ms, now_ms)
        assert result.readings and not result.rejects, (name, result.rejects)
        number = max(1, args.number // len(result.readings))

        def once(payload: bytes = payload) -> None:
            decoder.decode(topic, payload, now_ms, now_ms)

        best = min(timeit.repeat(once, number=number, repeat=args.rounds))
        per_msg = 1e6 * best / number
        per_reading = per_msg / len(result.readings)
        print(f"{name:28s} {per_msg:8.2f} us/message {per_reading:7.2f} us/reading")
    fields = result.readings[0].fields
    kind = KINDS["solar"]
    best = min(
        timeit.repeat(lambda: kind.fields_text(fields), number=args.number, repeat=args.rounds)
    )
    print(f"{'of which the field set text':28s} {1e6 * best / args.number:8.2f} us/reading")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
