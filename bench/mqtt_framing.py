"""`python -m bench.mqtt_framing`: CPU to frame one large PUBLISH, old path against new.

The same 64 KiB socket reads go through the native client's receive path (`_Link`) and
through the path it replaced, which re-copied the whole buffer on every read. The new cost
grows linearly with the packet (1/8/64 MiB: ~1/8/64 units); the old one quadratically.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from collector.broker import codec
from collector.broker.client import NativeMqttSource, _Link
from collector.broker.intake import LoopIntake
from collector.config import MqttSettings

CHUNK = 64 * 1024
MIB = 1 << 20


class OldFramer:
    """The replaced buffering, verbatim in what costs: `bytes(buf + data)` on every read."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.packets = 0

    def data_received(self, data: bytes) -> None:
        if self.buf:
            self.buf += data
            data = bytes(self.buf)
            self.buf.clear()
        pos, end = 0, len(data)
        while end - pos >= 2:
            got = codec.decode_varint(data, pos + 1)
            if got is None:
                break
            length, start = got
            if start + length > end:
                break
            self.packets += 1
            pos = start + length
        if pos < end:
            self.buf += data[pos:]


def chunks(size: int) -> list[bytes]:
    pkt = codec.publish_packet("sw/ST01/solar/mppt1/telemetry", b"x" * size, 1, False, pid=1)
    return [pkt[i : i + CHUNK] for i in range(0, len(pkt), CHUNK)]


def cpu_of(feed: list[bytes], sink: OldFramer | _Link) -> float:
    receive = sink.data_received
    t0 = time.process_time()
    for data in feed:
        receive(data)
    return time.process_time() - t0


async def new_path(feed: list[bytes]) -> float:
    s = MqttSettings.model_validate({"max_packet_bytes": 268_435_460})
    src = NativeMqttSource(s, LoopIntake(asyncio.get_running_loop(), 10))
    link = _Link(src, 1)
    cpu = cpu_of(feed, link)
    got = await src.intake.get_many(10, 0)
    assert len(got) == 1 and not link.refused
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", default="1,8,64", help="packet sizes, comma-separated")
    parser.add_argument("--no-old", action="store_true", help="skip the old path (~40 s at 64)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of the new path (best kept)")
    args = parser.parse_args()
    rows: list[dict[str, float | None]] = []
    new_by_mib: dict[int, float] = {}
    for mib in (int(x) for x in args.sizes_mib.split(",")):
        feed = chunks(mib * MIB)
        new = min(asyncio.run(new_path(feed)) for _ in range(args.repeat))
        old = None
        if not args.no_old:
            framer = OldFramer()
            old = cpu_of(feed, framer)
            assert framer.packets == 1
        new_by_mib[mib] = new
        rows.append({"mib": mib, "reads": len(feed), "new_cpu_s": new, "old_cpu_s": old})
        ratio = f"{old / new:7.1f}x" if old is not None and new > 0 else "   -"
        old_s = f"{old:8.3f}" if old is not None else "       -"
        per = 1000 * new / mib
        print(f"{mib:4d} MiB {len(feed):5d} reads  new {new:7.3f} s ({per:.2f} ms/MiB)  "
              f"old {old_s} s  old/new {ratio}")  # fmt: skip
    sizes = list(new_by_mib)
    for mib in sizes[1:]:
        grew = new_by_mib[mib] / new_by_mib[sizes[0]] if new_by_mib[sizes[0]] else float("nan")
        print(f"new path: {mib / sizes[0]:.0f}x the bytes cost {grew:.1f}x the CPU")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
