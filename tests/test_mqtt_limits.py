"""The native client's bounds against a peer that ignores them: packet size, keep alive, text.

Real Mosquitto honours our Maximum Packet Size and sends sane text, so these cases use the
small misbehaving broker of test_mqtt_native (the only place a fake peer is used).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import tracemalloc

import pytest

from collector.broker import codec
from collector.broker.client import NativeMqttSource, _Link
from collector.broker.intake import LoopIntake
from collector.config import CLIENT_ID_RE, ConfigError, default_client_id, load_settings
from collector.logtext import safe
from devices.topics import ID_RE
from tests.test_mqtt_native import fake_broker, read_packet, settings, source, take, until

MIB = 1 << 20


async def accept(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connack: bytes = b"\x00\x00\x00"
) -> bytes:
    """CONNECT (its body returned), CONNACK, SUBSCRIBE, SUBACK."""
    first, connect = await read_packet(reader)
    assert first == 0x10
    writer.write(codec.packet(0x20, connack))
    if connack[1] < 0x80:
        first, body = await read_packet(reader)
        assert first == 0x82
        writer.write(codec.packet(0x90, body[:2] + b"\x00\x01"))
    return connect


def mqtt_lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if needle in r.getMessage()]


async def test_an_oversized_publish_is_refused_from_its_header(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    connects: list[bytes] = []
    topic = f"{prefix}/S/solar/d/telemetry"

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connects.append(await accept(reader, writer))
        if len(connects) == 1:
            # 64 MiB announced, 1 KiB sent: a client that waited for the rest would hang here.
            head = bytes([0x32]) + codec.encode_varint(64 * MIB)
            writer.write(head + codec.encode_utf8(topic) + b"\x00\x01\x00" + b"x" * 1024)
        else:
            writer.write(codec.publish_packet(topic, b'{"ok":1}', 1, False, pid=2))

    caplog.set_level(logging.INFO, "collector.mqtt")
    tracemalloc.start()
    try:
        async with fake_broker(script) as (url, events), source(settings(url, prefix)) as src:
            await until(lambda: events.count("connection") >= 2, what="reconnect after refusal")
            got = await take(src, 1)
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got[0].payload == b'{"ok":1}'  # the next link works
    props, _ = codec.decode_properties(connects[0], 10)
    assert props[codec.MAXIMUM_PACKET_SIZE] == 256 * 1024  # the limit we announced
    assert any(e.startswith("packet 0xe0 95") for e in events)  # DISCONNECT 0x95
    assert src.packets_too_large == 1
    assert peak < 4 * MIB  # nothing of the announced 64 MiB was reserved or kept
    lines = mqtt_lines(caplog, "announced")
    assert len(lines) == 1 and "packet too large (0x95)" in lines[0]


async def test_the_packet_limit_counts_the_whole_packet(prefix: str) -> None:
    src = NativeMqttSource(
        settings("mqtt://127.0.0.1:1", prefix, max_packet_bytes=4096),
        LoopIntake(asyncio.get_running_loop(), 100),
    )
    topic = "t/x"
    overhead = len(codec.publish_packet(topic, b"a" * 200, 1, False, pid=1)) - 200  # 2-byte length
    at_limit = codec.publish_packet(topic, b"a" * (4096 - overhead), 1, False, pid=1)
    assert len(at_limit) == 4096
    link = _Link(src, 1)
    for i in range(0, len(at_limit), 1000):  # in pieces: collected, then parsed once
        link.data_received(at_limit[i : i + 1000])
    assert len(src.intake) == 1 and not link.refused
    over = codec.publish_packet(topic, b"a" * (4097 - overhead), 1, False, pid=2)
    link.data_received(over[:5])  # the header alone is enough to refuse it
    assert link.refused and not link.buf
    assert "4097 bytes announced" in link.lost_reason
    assert src.packets_too_large == 1
    link.data_received(over[5:])  # what was in flight is ignored, not buffered
    assert len(src.intake) == 1 and not link.buf


async def test_a_split_packet_is_collected_without_reparsing(prefix: str) -> None:
    src = NativeMqttSource(
        settings("mqtt://127.0.0.1:1", prefix, max_packet_bytes=64 * MIB),
        LoopIntake(asyncio.get_running_loop(), 100),
    )
    big = codec.publish_packet("t/big", b"b" * (32 * MIB), 1, False, pid=9)
    link = _Link(src, 1)
    view = memoryview(big)
    t0 = time.process_time()
    for i in range(0, len(big), 64 * 1024):  # 512 socket reads of 64 KiB
        link.data_received(view[i : i + 64 * 1024].tobytes())
    cpu = time.process_time() - t0
    got = await src.intake.get_many(10)
    assert [(m.topic, len(m.payload), m.mid) for m in got] == [("t/big", 32 * MIB, 9)]
    # Generous bound (the old path re-copied the whole buffer per read: ~8 GiB copied here).
    assert cpu < 1.5, f"{cpu:.2f} s of CPU for one 32 MiB packet"


async def test_a_huge_server_keep_alive_is_capped(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Server Keep Alive 65,535 s; then silence, as a dead link would be.
        await accept(reader, writer, b"\x00\x00\x03\x13\xff\xff")
        while await reader.read(100):
            pass

    caplog.set_level(logging.INFO, "collector.mqtt")
    async with fake_broker(script) as (url, events):
        s = settings(url, prefix, max_server_keepalive_s=1, reconnect_min_s=0.1)
        async with source(s) as src:
            await until(lambda: src.connects == 1, what="connect")
            t0 = time.monotonic()
            await until(lambda: "keepalive timeout" in src.last_error, 10, "dead link detected")
            assert time.monotonic() - t0 < 4  # 1.5 x the cap, not 1.5 x 65,535 s
            await until(lambda: src.connects == 2, what="second connect")
    warned = mqtt_lines(caplog, "Server Keep Alive 65535")
    assert len(warned) == 1  # once, not on every reconnect
    assert events.count("connection") >= 2


async def test_broker_text_reaches_the_log_as_one_escaped_line(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "bye\n2026-12-01 10:00:00 ERROR collector: forged line\r\x1b[2J" * 50

    def reason_props(text: str) -> bytes:
        raw = text.encode()
        prop = b"\x1f" + len(raw).to_bytes(2, "big") + raw
        return codec.encode_varint(len(prop)) + prop

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept(reader, writer)
        writer.write(codec.packet(0xE0, b"\x98" + reason_props(forged)))  # administrative

    caplog.set_level(logging.INFO, "collector.mqtt")
    async with fake_broker(script) as (url, _events), source(settings(url, prefix)) as src:
        await until(lambda: "DISCONNECT" in src.last_error, what="DISCONNECT seen")
        await until(lambda: bool(mqtt_lines(caplog, "DISCONNECT")), what="logged")
    lines = mqtt_lines(caplog, "DISCONNECT")
    assert len(lines) == 1
    line = lines[0]
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "bye\\n2026" in line and "\\x1b[2J" in line  # escaped, still readable
    assert len(line) < 400  # 2,500+ characters sent, 200 kept
    assert "\n" not in src.last_error


async def test_a_refusal_reason_string_is_escaped(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    raw = b"go away\nFAKE"
    props = b"\x1f" + len(raw).to_bytes(2, "big") + raw
    connack = b"\x00\x87" + codec.encode_varint(len(props)) + props  # not authorized

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept(reader, writer, connack)
        await writer.drain()

    caplog.set_level(logging.INFO, "collector.mqtt")
    async with fake_broker(script) as (url, _events), source(settings(url, prefix)) as src:
        await until(lambda: "connect refused" in src.last_error, what="refusal")
    lines = mqtt_lines(caplog, "refused the connection")
    assert lines and all("go away\\nFAKE" in x and "\n" not in x for x in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ascii / topic", "plain ascii / topic"),
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x1b[31mred\x00", "\\x1b[31mred\\x00"),
        ("line\u2028sep é", "line\\u2028sep é"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_safe_escapes_control_characters(text: str, expected: str) -> None:
    assert safe(text) == expected


def test_safe_caps_the_length() -> None:
    out = safe("x" * 1000)
    assert out == "x" * 200 + "...(+800 chars)"
    assert safe("\n" * 300).count("\\n") == 200


def test_a_packet_limit_below_the_payload_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.max_packet_bytes .* ingest\.max_payload_bytes"):
        load_settings(None, {"mqtt.max_packet_bytes": 60_000})
    raised = load_settings(
        None, {"mqtt.max_packet_bytes": 2 * MIB, "ingest.max_payload_bytes": MIB}
    )
    assert raised.mqtt.max_packet_bytes == 2 * MIB


@pytest.mark.parametrize("host", ["vm", "gx.cabo-delgado.local", "Pemba_01", "héllo wörld", ""])
def test_the_default_client_id_is_outside_the_station_id_rule(host: str) -> None:
    cid = default_client_id(host)
    assert cid.startswith("solarwater-collector.")
    assert ID_RE.fullmatch(cid) is None  # no station id can be it
    assert re.fullmatch(CLIENT_ID_RE, cid) and re.fullmatch(CLIENT_ID_RE, cid + "-w3")
