"""The asyncio-native MQTT source against real Mosquitto, and against a misbehaving broker.

Mosquitto never sends malformed packets or goes silent, so those two cases use a small
asyncio server in this file that speaks just enough MQTT 5 to misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from collector.broker import codec
from collector.broker.client import NativeMqttSource
from collector.broker.intake import Inbound, LoopIntake
from collector.config import MqttSettings
from devstack import Mosquitto
from tests.fault_support import Message, Publisher


def settings(url: str, prefix: str, **extra: object) -> MqttSettings:
    values: dict[str, object] = {
        "url": url,
        "prefix": prefix,
        "client_id": f"native-{prefix}",
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
        **extra,
    }
    return MqttSettings.model_validate(values)


@asynccontextmanager
async def source(s: MqttSettings, max_items: int = 10_000) -> AsyncIterator[NativeMqttSource]:
    src = NativeMqttSource(s, LoopIntake(asyncio.get_running_loop(), max_items))
    src.start()
    try:
        yield src
    finally:
        await src.close()


async def until(pred: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def take(src: NativeMqttSource, n: int, timeout: float = 20.0) -> list[Inbound]:
    out: list[Inbound] = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out += await src.intake.get_many(n - len(out))
    return out


def telemetry(prefix: str, n: int, size: int = 0) -> list[Message]:
    pad = "x" * size
    return [
        Message(
            f"{prefix}/ST-{i % 7}/solar/mppt1/telemetry",
            orjson.dumps({"seq": i, "battery_voltage_v": 25.0, "pad": pad}),
            1,
        )
        for i in range(n)
    ]


async def publish(url: str, messages: list[Message], client_id: str) -> None:
    with Publisher(url, client_id) as pub:
        await asyncio.to_thread(pub.publish_all, messages)
        await asyncio.to_thread(pub.wait_acked, 30)


async def test_unacked_messages_come_back_through_the_persistent_session(
    mosquitto: Mosquitto, prefix: str
) -> None:
    s = settings(mosquitto.url, prefix)
    async with source(s) as src:
        await until(lambda: src.connected, what="connect")
        await publish(mosquitto.url, telemetry(prefix, 40), f"pub-{prefix}")
        first = await take(src, 40)
        assert [orjson.loads(m.payload)["seq"] for m in first] == list(range(40))
        for item in first[:25]:
            assert src.ack(item)
    # Stopped with 15 unacknowledged: the same client id gets exactly those again, marked DUP
    # by the broker, on a new connection whose acks are the only valid ones.
    async with source(s) as src:
        again = await take(src, 15)
        assert [orjson.loads(m.payload)["seq"] for m in again] == list(range(25, 40))
        assert not any(src.ack(item) for item in first)  # older connection: never acked
        assert all(src.ack(item) for item in again)
        await asyncio.sleep(0.3)
    async with source(s) as src:
        await until(lambda: src.connected, what="reconnect")
        await asyncio.sleep(0.5)
        assert len(src.intake) == 0  # all acknowledged: nothing redelivered


async def test_a_lost_link_voids_older_acks_and_redelivers(
    mosquitto: Mosquitto, prefix: str
) -> None:
    async with source(settings(mosquitto.url, prefix)) as src:
        await until(lambda: src.connected, what="connect")
        await publish(mosquitto.url, telemetry(prefix, 10), f"pub-{prefix}")
        first = await take(src, 10)
        link = src._link
        assert link is not None and link.transport is not None
        link.transport.abort()  # the network drops us
        await until(lambda: src.connects == 2 and src.connected, what="reconnect")
        assert "disconnected" in src.last_error
        assert not any(src.ack(item) for item in first)
        again = await take(src, 10)
        assert [m.payload for m in again] == [m.payload for m in first]
        assert {m.generation for m in again} == {src.generation} != {first[0].generation}


async def test_a_slow_consumer_stops_the_socket_instead_of_buffering(
    mosquitto: Mosquitto, prefix: str
) -> None:
    n, max_items = 600, 40
    async with source(settings(mosquitto.url, prefix), max_items=max_items) as src:
        await until(lambda: src.connected, what="connect")
        pub = asyncio.create_task(publish(mosquitto.url, telemetry(prefix, n, 2000), f"p{prefix}"))
        await until(lambda: src.intake.paused, what="back-pressure")
        await asyncio.sleep(0.5)
        # One socket read (at most 256 KiB: ~120 of these messages) may land past the mark.
        assert max_items <= len(src.intake) <= max_items + 130
        assert src.intake.full_events >= 1
        got = await take(src, n, 30)
        assert len({orjson.loads(m.payload)["seq"] for m in got}) == n
        for item in got:
            src.ack(item)
        await pub


async def test_own_publishes_wait_for_the_link_and_are_delivered(
    mosquitto: Mosquitto, prefix: str
) -> None:
    received: list[tuple[str, bytes, bool]] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    sub.on_message = lambda c, u, m: received.append((m.topic, bytes(m.payload), bool(m.retain)))
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe(f"{prefix}/alerts/#", qos=1)
    sub.loop_start()
    try:
        src = NativeMqttSource(
            settings(mosquitto.url, prefix), LoopIntake(asyncio.get_running_loop(), 100)
        )
        src.publish(f"{prefix}/alerts/A/r1", b'{"state":"firing"}', 1, True)  # before connecting
        src.publish(f"{prefix}/alerts/A/r2", b"q0", 0, False)
        src.start()
        try:
            await until(lambda: len(received) == 2, what="alerts delivered")
            await until(lambda: not src._inflight, what="PUBACK")  # released by the broker
        finally:
            await src.close()
        assert sorted(received) == [
            (f"{prefix}/alerts/A/r1", b'{"state":"firing"}', False),
            (f"{prefix}/alerts/A/r2", b"q0", False),
        ]
        sub.publish(f"{prefix}/alerts/A/r1", b"", qos=1, retain=True).wait_for_publish(5)
    finally:
        sub.loop_stop()
        sub.disconnect()


# --- a broker that misbehaves on purpose ---------------------------------------------------
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    length = shift = 0
    while True:
        b = (await reader.readexactly(1))[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return first, await reader.readexactly(length)


async def handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connack: bytes = b"\x00\x00\x00"
) -> None:
    first, _ = await read_packet(reader)
    assert first == 0x10
    writer.write(codec.packet(0x20, connack))
    if connack[1] >= 0x80:
        return
    first, body = await read_packet(reader)
    assert first == 0x82
    writer.write(codec.packet(0x90, body[:2] + b"\x00\x01"))


@asynccontextmanager
async def fake_broker(script: Script) -> AsyncIterator[tuple[str, list[str]]]:
    events: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        events.append("connection")
        try:
            await script(reader, writer)
            while True:  # record what the client says last
                first, body = await read_packet(reader)
                events.append(f"packet {first:#x} {body.hex()}")
                if first == 0xE0:  # DISCONNECT: a broker closes the link, as Mosquitto does
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            events.append("closed")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"mqtt://127.0.0.1:{port}", events
    finally:
        server.close()


async def test_a_malformed_packet_gets_a_clean_disconnect_and_a_reconnect(prefix: str) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        good = codec.publish_packet(f"{prefix}/S/solar/d/telemetry", b"{}", 1, False, pid=1)
        bad = b"\x32\x05\x00\x09abc"  # topic length runs past the packet
        writer.write(good + bad)

    async with fake_broker(script) as (url, events), source(settings(url, prefix)) as src:
        await until(lambda: events.count("connection") >= 2, what="reconnect after refusal")
        assert "malformed" in src.last_error or "protocol error" in src.last_error
        assert any(e.startswith("packet 0xe0 81") for e in events)  # DISCONNECT 0x81 sent
        got = await take(src, 1)  # the good PUBLISH before the bad one was handed over
        assert got[0].topic == f"{prefix}/S/solar/d/telemetry"
        assert src._task is not None and not src._task.done()


async def test_a_silent_broker_is_detected_by_keepalive(prefix: str) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Server Keep Alive 1 s; then never answer a PINGREQ.
        await handshake(reader, writer, b"\x00\x00\x03\x13\x00\x01")
        while await reader.read(100):
            pass

    async with fake_broker(script) as (url, _events), source(settings(url, prefix)) as src:
        await until(lambda: src.connects == 1, what="connect")
        t0 = time.monotonic()
        await until(lambda: "keepalive timeout" in src.last_error, 10, "dead link detected")
        assert time.monotonic() - t0 < 4


async def test_refused_credentials_back_off_instead_of_spinning(prefix: str) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer, b"\x00\x86\x00")
        await writer.drain()

    async with fake_broker(script) as (url, events):
        s = settings(url, prefix, reconnect_min_s=0.2, reconnect_max_s=10.0)
        async with source(s) as src:
            await asyncio.sleep(3.2)
            assert "connect refused: bad user name or password" in src.last_error
            assert not src.connected and src.connects == 0
    # 0.2 + 0.4 + 0.8 + 1.6 s of backoff: at most five attempts in 3.2 s
    assert 2 <= events.count("connection") <= 5


async def test_receive_path_splits_chunks_and_refuses_what_the_codec_refuses(prefix: str) -> None:
    from collector.broker.client import _Link

    src = NativeMqttSource(
        settings("mqtt://127.0.0.1:1", prefix), LoopIntake(asyncio.get_running_loop(), 100)
    )
    link = _Link(src, 7)
    with_props = codec.encode_utf8("t/p") + b"\x00\x03" + b"\x05\x02\x00\x00\x00\x3c" + b"P"
    stream = (
        codec.publish_packet("t/a", b"A", 1, False, pid=1)  # fast path
        + codec.packet(0x32, with_props)  # properties: full parser
        + codec.publish_packet("t/q0", b"Z", 0, False)
        + codec.publish_packet("t/b", b"B" * 300, 1, True, pid=2)
    )
    for cut in (1, 7, len(stream) - 2):  # packets split anywhere across reads
        link.data_received(stream[:cut])
        link.data_received(stream[cut:])
    got = await src.intake.get_many(100)
    assert [(m.topic, m.payload[:3], m.mid, m.qos, m.generation) for m in got] == [
        ("t/a", b"A", 1, 1, 7),
        ("t/p", b"P", 3, 1, 7),
        ("t/q0", b"Z", 0, 0, 7),
        ("t/b", b"BBB", 2, 1, 7),
    ] * 3
    bad_topic = codec.packet(0x32, b"\x00\x02\xc3\x28\x00\x04\x00{}")  # not UTF-8, QoS 1
    link.data_received(bad_topic)
    assert "not valid UTF-8" in link.lost_reason
    wildcard = codec.publish_packet("t/+", b"{}", 1, False, pid=5)
    link2 = _Link(src, 8)
    link2.data_received(wildcard)
    assert "topic name not valid" in link2.lost_reason
    assert len(src.intake) == 0
