"""MQTT 5 packets: the few the collector sends, and parsers for what a broker sends back.

Parsers take a packet's body (after the fixed header) and raise `MalformedPacket` on any
inconsistency; the client then disconnects cleanly instead of guessing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from devices.errors import SolarWaterError

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
MAX_REMAINING = 268_435_455  # four varint bytes (MQTT 5 §1.5.5)

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_NORMAL = b"\xe0\x00"

# Property identifier -> wire type (MQTT 5 §2.2.2.2).
_BYTE, _TWO, _FOUR, _VARINT, _UTF8, _BINARY, _PAIR = range(7)
PROPERTY_TYPES: dict[int, int] = {
    0x01: _BYTE,  # payload format indicator
    0x02: _FOUR,  # message expiry interval
    0x03: _UTF8,  # content type
    0x08: _UTF8,  # response topic
    0x09: _BINARY,  # correlation data
    0x0B: _VARINT,  # subscription identifier
    0x11: _FOUR,  # session expiry interval
    0x12: _UTF8,  # assigned client identifier
    0x13: _TWO,  # server keep alive
    0x15: _UTF8,  # authentication method
    0x16: _BINARY,  # authentication data
    0x17: _BYTE,  # request problem information
    0x18: _FOUR,  # will delay interval
    0x19: _BYTE,  # request response information
    0x1A: _UTF8,  # response information
    0x1C: _UTF8,  # server reference
    0x1F: _UTF8,  # reason string
    0x21: _TWO,  # receive maximum
    0x22: _TWO,  # topic alias maximum
    0x23: _TWO,  # topic alias
    0x24: _BYTE,  # maximum QoS
    0x25: _BYTE,  # retain available
    0x26: _PAIR,  # user property
    0x27: _FOUR,  # maximum packet size
    0x28: _BYTE,  # wildcard subscription available
    0x29: _BYTE,  # subscription identifiers available
    0x2A: _BYTE,  # shared subscription available
}
RECEIVE_MAXIMUM, SERVER_KEEP_ALIVE, REASON_STRING, SESSION_EXPIRY = 0x21, 0x13, 0x1F, 0x11
MAXIMUM_PACKET_SIZE = 0x27

REASONS: dict[int, str] = {
    0x00: "success",
    0x04: "disconnect with will message",
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8B: "server shutting down",
    0x8C: "bad authentication method",
    0x8D: "keep alive timeout",
    0x8E: "session taken over",
    0x8F: "topic filter invalid",
    0x90: "topic name invalid",
    0x93: "receive maximum exceeded",
    0x94: "topic alias invalid",
    0x95: "packet too large",
    0x97: "quota exceeded",
    0x98: "administrative action",
    0x99: "payload format invalid",
    0x9A: "retain not supported",
    0x9B: "QoS not supported",
    0x9C: "use another server",
    0x9D: "server moved",
    0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded",
    0xA0: "maximum connect time",
    0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported",
}


class MalformedPacket(SolarWaterError, ValueError):
    """Bytes from the broker that are not a valid MQTT 5 packet; the message is one line."""


def reason_text(code: int) -> str:
    return f"{REASONS.get(code, 'reason')} (0x{code:02X})"


# --- primitives -----------------------------------------------------------------------
def encode_varint(n: int) -> bytes:
    """A Variable Byte Integer (1-4 bytes)."""
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"varint out of range: {n}")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def decode_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """(value, next position), or None when `buf` ends first; more than 4 bytes is malformed."""
    value = shift = 0
    for i in range(pos, min(pos + 4, len(buf))):
        b = buf[i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i + 1
        shift += 7
    if len(buf) - pos >= 4:
        raise MalformedPacket("variable byte integer longer than 4 bytes")
    return None


def encode_utf8(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 65535:
        raise ValueError("UTF-8 string longer than 65535 bytes")
    return struct.pack("!H", len(raw)) + raw


def decode_utf8(body: bytes, pos: int) -> tuple[str, int]:
    raw, pos = decode_binary(body, pos)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket("string is not valid UTF-8") from None
    if "\x00" in text:
        raise MalformedPacket("string holds U+0000")
    return text, pos


def decode_binary(body: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 2 > len(body):
        raise MalformedPacket("string length runs past the packet")
    n = (body[pos] << 8) | body[pos + 1]
    end = pos + 2 + n
    if end > len(body):
        raise MalformedPacket("string runs past the packet")
    return body[pos + 2 : end], end


def packet(first: int, body: bytes) -> bytes:
    """Fixed header + body."""
    return bytes([first]) + encode_varint(len(body)) + body


# --- properties -------------------------------------------------------------------------
def encode_properties(props: dict[int, int]) -> bytes:
    """Integer properties only (all the collector sends)."""
    out = bytearray()
    for ident, value in props.items():
        kind = PROPERTY_TYPES[ident]
        out.append(ident)
        if kind == _BYTE:
            out.append(value)
        elif kind == _TWO:
            out += struct.pack("!H", value)
        elif kind == _FOUR:
            out += struct.pack("!I", value)
        else:
            out += encode_varint(value)
    return encode_varint(len(out)) + bytes(out)


Property = int | str | bytes | tuple[str, str]


def decode_properties(body: bytes, pos: int) -> tuple[dict[int, Property], int]:
    """Every property (user properties are dropped: the collector reads none); (props, end)."""
    got = decode_varint(body, pos)
    if got is None:
        raise MalformedPacket("property length runs past the packet")
    length, pos = got
    end = pos + length
    if end > len(body):
        raise MalformedPacket("properties run past the packet")
    props: dict[int, Property] = {}
    view = body[:end]
    while pos < end:
        ident = view[pos]
        pos += 1
        kind = PROPERTY_TYPES.get(ident)
        value: Property
        if kind is None:
            raise MalformedPacket(f"unknown property 0x{ident:02X}")
        if kind == _BYTE:
            if pos + 1 > end:
                raise MalformedPacket("property runs past its length")
            value, pos = view[pos], pos + 1
        elif kind == _TWO:
            if pos + 2 > end:
                raise MalformedPacket("property runs past its length")
            value, pos = (view[pos] << 8) | view[pos + 1], pos + 2
        elif kind == _FOUR:
            if pos + 4 > end:
                raise MalformedPacket("property runs past its length")
            value, pos = struct.unpack_from("!I", view, pos)[0], pos + 4
        elif kind == _VARINT:
            got = decode_varint(view, pos)
            if got is None:
                raise MalformedPacket("property runs past its length")
            value, pos = got
        elif kind == _UTF8:
            value, pos = decode_utf8(view, pos)
        elif kind == _BINARY:
            value, pos = decode_binary(view, pos)
        else:
            k, pos = decode_utf8(view, pos)
            v, pos = decode_utf8(view, pos)
            value = (k, v)
        if ident != 0x26:
            props[ident] = value
    return props, end


# --- what the collector sends -------------------------------------------------------------
def connect_packet(
    client_id: str,
    *,
    keepalive: int,
    clean_start: bool,
    session_expiry: int,
    receive_maximum: int,
    maximum_packet_size: int = 0,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT; `maximum_packet_size` 0 leaves the property out (no limit)."""
    flags = 0x02 if clean_start else 0
    if username is not None:
        flags |= 0x80
        if password is not None:
            flags |= 0x40
    wanted = {SESSION_EXPIRY: session_expiry, RECEIVE_MAXIMUM: receive_maximum}
    if maximum_packet_size:
        wanted[MAXIMUM_PACKET_SIZE] = maximum_packet_size
    props = encode_properties(wanted)
    body = bytearray(encode_utf8("MQTT"))
    body += bytes([5, flags]) + struct.pack("!H", keepalive) + props
    body += encode_utf8(client_id)
    if username is not None:
        body += encode_utf8(username)
        if password is not None:
            raw = password.encode("utf-8")
            body += struct.pack("!H", len(raw)) + raw
    return packet(CONNECT << 4, bytes(body))


def subscribe_packet(pid: int, filters: list[str], qos: int) -> bytes:
    body = bytearray(struct.pack("!H", pid)) + b"\x00"
    for f in filters:
        body += encode_utf8(f) + bytes([qos])
    return packet(0x82, bytes(body))


def publish_packet(
    topic: str, payload: bytes, qos: int, retain: bool, pid: int = 0, dup: bool = False
) -> bytes:
    first = (PUBLISH << 4) | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = encode_utf8(topic) + (struct.pack("!H", pid) if qos else b"") + b"\x00" + payload
    return packet(first, body)


def puback_packet(pid: int) -> bytes:
    return b"\x40\x02" + struct.pack("!H", pid)


def disconnect_packet(reason: int) -> bytes:
    return DISCONNECT_NORMAL if reason == 0 else packet(DISCONNECT << 4, bytes([reason, 0]))


# --- what a broker sends --------------------------------------------------------------------
def split_packets(buf: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """Complete packets at the start of `buf` as (first byte, body), and the bytes they took."""
    out: list[tuple[int, bytes]] = []
    pos, end = 0, len(buf)
    while end - pos >= 2:
        got = decode_varint(buf, pos + 1)
        if got is None:
            break
        length, start = got
        stop = start + length
        if stop > end:
            break
        out.append((buf[pos], bytes(buf[start:stop])))
        pos = stop
    return out, pos


@dataclass(slots=True)
class Publish:
    """An incoming PUBLISH; properties are checked and skipped (the collector needs none).

    Not frozen: built once per message, and a frozen __init__ costs ~5x more."""

    topic: str
    payload: bytes
    qos: int
    pid: int
    retain: bool
    dup: bool


def parse_publish(first: int, data: bytes, start: int, stop: int) -> Publish:
    """The PUBLISH whose body is `data[start:stop]` (no copy of the whole body: hot path)."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    if start + 2 > stop:
        raise MalformedPacket("PUBLISH topic length runs past the packet")
    pos = start + 2 + ((data[start] << 8) | data[start + 1])
    if pos > stop:
        raise MalformedPacket("PUBLISH topic runs past the packet")
    try:
        topic = data[start + 2 : pos].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket("PUBLISH topic is not valid UTF-8") from None
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        # An empty topic needs a topic alias, which we never allow (Topic Alias Maximum 0).
        raise MalformedPacket(f"PUBLISH topic name not valid: {topic[:80]!r}")
    pid = 0
    if qos:
        if pos + 2 > stop:
            raise MalformedPacket("PUBLISH packet id runs past the packet")
        pid = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if pid == 0:
            raise MalformedPacket("PUBLISH with packet id 0")
    if pos < stop and data[pos] == 0:
        pos += 1  # no properties: the common case
    else:
        _, pos = decode_properties(data[:stop], pos)
    return Publish(topic, data[pos:stop], qos, pid, bool(first & 1), bool(first & 8))


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason: int
    props: dict[int, Property] = field(default_factory=dict)


def parse_connack(body: bytes) -> ConnAck:
    if len(body) < 2:
        raise MalformedPacket("CONNACK shorter than 2 bytes")
    if body[0] & 0xFE:
        raise MalformedPacket("CONNACK flags reserved bits set")
    props: dict[int, Property] = {}
    if len(body) > 2:
        props, end = decode_properties(body, 2)
        if end != len(body):
            raise MalformedPacket("CONNACK has bytes after its properties")
    return ConnAck(bool(body[0] & 1), body[1], props)


def parse_ack(body: bytes) -> tuple[int, int]:
    """PUBACK: (packet id, reason code)."""
    if len(body) < 2:
        raise MalformedPacket("PUBACK shorter than 2 bytes")
    pid = (body[0] << 8) | body[1]
    return pid, body[2] if len(body) > 2 else 0


def parse_suback(body: bytes) -> tuple[int, list[int]]:
    """(packet id, one reason code per filter)."""
    if len(body) < 3:
        raise MalformedPacket("SUBACK shorter than 3 bytes")
    pid = (body[0] << 8) | body[1]
    _, pos = decode_properties(body, 2)
    codes = list(body[pos:])
    if not codes:
        raise MalformedPacket("SUBACK without reason codes")
    return pid, codes


def parse_disconnect(body: bytes) -> tuple[int, str]:
    """(reason code, reason string or "")."""
    if not body:
        return 0, ""
    reason = body[0]
    text = ""
    if len(body) > 1:
        props, _ = decode_properties(body, 1)
        value = props.get(REASON_STRING, "")
        text = value if isinstance(value, str) else ""
    return reason, text
