"""The ceiling of an asyncio-native MQTT 5 receive path: parse in the loop, batch the PUBACKs.

A measuring stick for the proposal to replace paho's network thread, not a client:
no TLS, no reconnect, no keepalive. `python -m bench.asyncio_ceiling HOST PORT FILTER
COUNT` prints "ready" once subscribed, then a JSON line with first/last arrival times.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

from collector.broker.codec import connect_packet, subscribe_packet


class Counter(asyncio.Protocol):
    """Counts PUBLISH packets; one write of PUBACKs per chunk of received bytes."""

    def __init__(self, topic_filter: str, want: int) -> None:
        self.topic_filter = topic_filter
        self.want = want
        self.got = 0
        self.first = self.last = 0.0
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.subscribed = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        client_id = f"asyncio-ceiling-{time.time_ns()}"
        transport.write(
            connect_packet(
                client_id, keepalive=60, clean_start=True, session_expiry=0, receive_maximum=2000
            )
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        acks = bytearray()
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first = buf[pos]
            length = mult = 0
            i = pos + 1
            while True:
                if i >= end:
                    break
                b = buf[i]
                length += (b & 0x7F) << mult
                mult += 7
                i += 1
                if not b & 0x80:
                    break
            else:
                break
            if b & 0x80 or i + length > end:
                break
            kind = first >> 4
            if kind == 3:
                tlen = (buf[i] << 8) | buf[i + 1]
                if (first >> 1) & 3:
                    pid = buf[i + 2 + tlen : i + 4 + tlen]
                    acks += b"\x40\x02" + pid
                self.got += 1
            elif kind == 2:
                self.transport.write(  # type: ignore[union-attr]
                    subscribe_packet(1, [self.topic_filter], 1)
                )
            elif kind == 9 and not self.subscribed.done():
                self.subscribed.set_result(None)
            pos = i + length
        del buf[:pos]
        if acks:
            now = time.time()
            if not self.first:
                self.first = now
            self.last = now
            self.transport.write(bytes(acks))  # type: ignore[union-attr]
        if self.got >= self.want and not self.done.done():
            self.done.set_result(None)


async def run(host: str, port: int, topic_filter: str, want: int) -> int:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_connection(lambda: Counter(topic_filter, want), host, port)
    await asyncio.wait_for(proto.subscribed, 20)
    print("ready", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proto.done, 300)
    transport.write(b"\xe0\x00")
    transport.close()
    print(json.dumps({"messages": proto.got, "first": proto.first, "last": proto.last}))
    return 0 if proto.got >= want else 1


def main(argv: list[str] | None = None) -> int:
    host, port, topic_filter, count = (argv or sys.argv[1:])[:4]
    return asyncio.run(run(host, int(port), topic_filter, int(count)))


if __name__ == "__main__":
    sys.exit(main())
