"""The native MQTT 5 codec: integers, strings, properties, packets; malformed input is refused."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.broker import codec
from collector.broker.codec import MalformedPacket


@pytest.mark.parametrize(
    ("n", "wire"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_varint_boundaries(n: int, wire: bytes) -> None:
    assert codec.encode_varint(n) == wire
    assert codec.decode_varint(wire, 0) == (n, len(wire))


@given(st.integers(0, codec.MAX_REMAINING), st.binary(max_size=8))
def test_varint_round_trip(n: int, tail: bytes) -> None:
    wire = b"xy" + codec.encode_varint(n) + tail
    assert codec.decode_varint(wire, 2) == (n, len(wire) - len(tail))


def test_varint_incomplete_and_too_long() -> None:
    assert codec.decode_varint(b"\x80\x80", 0) is None  # more bytes may come
    with pytest.raises(MalformedPacket):
        codec.decode_varint(b"\x80\x80\x80\x80\x01", 0)
    with pytest.raises(ValueError):
        codec.encode_varint(codec.MAX_REMAINING + 1)


@given(st.text(max_size=200).filter(lambda t: "\x00" not in t))
def test_utf8_round_trip(text: str) -> None:
    wire = codec.encode_utf8(text) + b"rest"
    assert codec.decode_utf8(wire, 0) == (text, len(wire) - 4)


@pytest.mark.parametrize(
    "wire",
    [b"\x00", b"\x00\x05abc", b"\x00\x02\xff\xfe", b"\x00\x01\x00"],
    ids=["short-length", "runs-past", "not-utf8", "nul"],
)
def test_utf8_malformed(wire: bytes) -> None:
    with pytest.raises(MalformedPacket):
        codec.decode_utf8(wire, 0)


def test_properties_every_type_and_user_property_dropped() -> None:
    body = (
        b"\x21\x07\xd0"  # receive maximum 2000 (two bytes)
        + b"\x11\x00\x01\x51\x80"  # session expiry 86400 (four)
        + b"\x0b\x80\x01"  # subscription identifier 128 (varint)
        + b"\x1f"
        + codec.encode_utf8("why")  # reason string
        + b"\x09\x00\x02\x01\x02"  # correlation data (binary)
        + b"\x26"
        + codec.encode_utf8("k")
        + codec.encode_utf8("v")  # user property
        + b"\x24\x01"  # maximum QoS (byte)
    )
    wire = codec.encode_varint(len(body)) + body + b"payload"
    props, end = codec.decode_properties(wire, 0)
    assert props == {0x21: 2000, 0x11: 86400, 0x0B: 128, 0x1F: "why", 0x09: b"\x01\x02", 0x24: 1}
    assert wire[end:] == b"payload"


@pytest.mark.parametrize(
    "wire",
    [
        b"\x05\x21\x07",  # length says 5, only 2 bytes follow
        b"\x02\x21\x07",  # two-byte value cut by the property length
        b"\x02\x7f\x00",  # unknown property id
        b"\x03\x1f\x00\x05",  # string runs past
        b"\x80",  # property length itself cut
    ],
)
def test_properties_malformed(wire: bytes) -> None:
    with pytest.raises(MalformedPacket):
        codec.decode_properties(wire, 0)


def test_integer_properties_encode_round_trip() -> None:
    wire = codec.encode_properties({0x11: 604800, 0x21: 2000})
    assert codec.decode_properties(wire, 0) == ({0x11: 604800, 0x21: 2000}, len(wire))


def test_connect_packet_layout() -> None:
    pkt = codec.connect_packet(
        "cid",
        keepalive=30,
        clean_start=False,
        session_expiry=3600,
        receive_maximum=500,
        username="u",
        password="p\u00e9",
    )
    packets, used = codec.split_packets(bytearray(pkt))
    assert used == len(pkt) and len(packets) == 1
    first, body = packets[0]
    assert first == 0x10
    assert body[:7] == b"\x00\x04MQTT\x05"
    assert body[7] == 0xC0  # user name + password, clean start off
    assert struct.unpack("!H", body[8:10]) == (30,)
    props, pos = codec.decode_properties(body, 10)
    assert props == {0x11: 3600, 0x21: 500}
    cid, pos = codec.decode_utf8(body, pos)
    user, pos = codec.decode_utf8(body, pos)
    pw, pos = codec.decode_binary(body, pos)
    assert (cid, user, pw.decode(), pos) == ("cid", "u", "p\u00e9", len(body))


def test_connect_announces_the_maximum_packet_size() -> None:
    pkt = codec.connect_packet(
        "c", keepalive=30, clean_start=False, session_expiry=60, receive_maximum=10,
        maximum_packet_size=262_144,
    )  # fmt: skip
    (_first, body), *_ = codec.split_packets(bytearray(pkt))[0]
    props, _ = codec.decode_properties(body, 10)
    assert props == {0x11: 60, 0x21: 10, codec.MAXIMUM_PACKET_SIZE: 262_144}


def test_publish_round_trip_with_and_without_properties() -> None:
    pkt = codec.publish_packet("a/b", b"{}", 1, True, pid=513, dup=True)
    (first, body), *_ = codec.split_packets(bytearray(pkt))[0]
    p = codec.parse_publish(first, body, 0, len(body))
    assert (p.topic, p.payload, p.qos, p.pid, p.retain, p.dup) == ("a/b", b"{}", 1, 513, True, True)
    # a publisher's properties (message expiry, content type) are skipped, not mistaken
    props = b"\x02\x00\x00\x00\x3c\x03" + codec.encode_utf8("application/json")
    body = codec.encode_utf8("t/x") + b"\x00\x07" + codec.encode_varint(len(props)) + props + b"P"
    p = codec.parse_publish(0x32, b"zz" + body, 2, 2 + len(body))
    assert (p.topic, p.pid, p.payload) == ("t/x", 7, b"P")
    q0 = codec.publish_packet("t", b"", 0, False)
    (first, body), *_ = codec.split_packets(bytearray(q0))[0]
    assert codec.parse_publish(first, body, 0, len(body)).payload == b""


@pytest.mark.parametrize(
    ("first", "body"),
    [
        (0x36, codec.encode_utf8("t") + b"\x00\x01\x00"),  # QoS 3
        (0x32, b"\x00\x09ab"),  # topic runs past
        (0x32, codec.encode_utf8("t")),  # packet id missing
        (0x32, codec.encode_utf8("t") + b"\x00\x00\x00"),  # packet id 0
        (0x30, codec.encode_utf8("")),  # empty topic (alias we never allowed)
        (0x30, codec.encode_utf8("a/+") + b"\x00"),  # wildcard in a topic name
        (0x30, b"\x00\x02\xc3\x28\x00"),  # topic not UTF-8
        (0x30, codec.encode_utf8("t")),  # property length missing
        (0x30, codec.encode_utf8("t") + b"\x05\x01"),  # properties run past
    ],
)
def test_publish_malformed(first: int, body: bytes) -> None:
    with pytest.raises(MalformedPacket):
        codec.parse_publish(first, body, 0, len(body))


def test_split_packets_keeps_partial_tail() -> None:
    one = codec.puback_packet(1)
    two = codec.publish_packet("x", b"y" * 300, 1, False, pid=2)  # two-byte remaining length
    buf = bytearray(one + two + two[:3])
    packets, used = codec.split_packets(buf)
    assert [p[0] for p in packets] == [0x40, 0x32] and used == len(one) + len(two)


def test_connack_suback_disconnect_puback() -> None:
    ack = codec.parse_connack(b"\x01\x00\x03\x21\x00\x0a")
    assert ack.session_present and ack.reason == 0 and ack.props == {0x21: 10}
    assert codec.parse_connack(b"\x00\x86").reason == 0x86
    assert codec.parse_suback(b"\x00\x05\x00\x01\x87") == (5, [1, 0x87])
    assert codec.parse_disconnect(b"") == (0, "")
    text = codec.encode_utf8("bye")
    assert codec.parse_disconnect(b"\x8e" + bytes([len(text) + 1]) + b"\x1f" + text) == (
        0x8E,
        "bye",
    )
    assert codec.parse_ack(b"\x01\x02") == (258, 0)
    assert codec.reason_text(0x86) == "bad user name or password (0x86)"


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        (codec.parse_connack, b"\x00"),
        (codec.parse_connack, b"\x02\x00"),  # reserved flag bit
        (codec.parse_connack, b"\x00\x00\x09\x21"),
        (codec.parse_suback, b"\x00\x01\x00"),  # no reason codes
        (codec.parse_ack, b"\x00"),
    ],
)
def test_control_packets_malformed(parse: object, body: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse(body)  # type: ignore[operator]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_malformed(data: bytes) -> None:
    try:
        packets, _ = codec.split_packets(bytearray(data))
    except MalformedPacket:
        return
    for first, body in packets:
        for parse in (codec.parse_connack, codec.parse_suback, codec.parse_ack):
            with contextlib.suppress(MalformedPacket):
                parse(body)
        with contextlib.suppress(MalformedPacket):
            codec.parse_publish(first, body, 0, len(body))
