"""The asyncio-native MQTT 5 source: the broker link runs in the event loop, no thread.

Every PUBLISH in a received chunk is parsed with slicing and handed to the consumer as one
list; the PUBACKs the writer releases in one go are written with one `transport.write`.
A packet split across reads is collected without parsing until it is complete (its size is
known from its header), so a large packet costs time linear in its size; one announced
above `max_packet_bytes` is refused from its header, before any of it is kept.
Acks name the connection (`generation`) a message came on: after a reconnect the broker
redelivers what was not acknowledged, so an older packet id is never acked on a newer link.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from collector.broker import codec
from collector.broker.codec import ConnAck, MalformedPacket, reason_text
from collector.broker.intake import Inbound, LoopIntake
from collector.broker.link import LinkState
from collector.broker.subscription import credentials, subscription_filters, tls_context
from collector.config import ConfigError, MqttSettings
from collector.logtext import safe
from devices.errors import SolarWaterError

log = logging.getLogger("collector.mqtt")
OUTBOX_MAX = 1000  # our own publishes (alerts) held while disconnected or unacknowledged
_PUBACK_HEAD = b"\x40\x02"
STABLE_S = 10.0  # a link dropped sooner than this keeps the backoff growing
T = TypeVar("T")
_GENERATIONS = itertools.count(1)  # unique per process, across sources and links


class _Link(asyncio.Protocol):
    """One TCP/TLS connection: splits packets, hands PUBLISHes over, batches PUBACKs."""

    def __init__(self, source: NativeMqttSource, generation: int) -> None:
        loop = asyncio.get_running_loop()
        self.source = source
        self.generation = generation
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()  # an incomplete packet (and only that) from earlier reads
        self.need = 0  # its full size once its header is in; 0 while even that is partial
        self.max_packet = source.settings.max_packet_bytes
        self.refused = False
        self.acks = bytearray()
        self.flush_pending = False
        self.connack: asyncio.Future[ConnAck] = loop.create_future()
        self.suback: asyncio.Future[list[int]] = loop.create_future()
        self.suback_pid = 0
        self.closed: asyncio.Future[None] = loop.create_future()
        self.last_rx = time.monotonic()
        self.lost_reason = "connection closed"

    # --- asyncio callbacks ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.lost_reason = str(exc) or type(exc).__name__
        self.acks.clear()  # acks of a lost link are void: the broker redelivers
        for fut in (self.connack, self.suback):
            if not fut.done():
                fut.cancel()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = self.source.clock()
        self.last_rx = time.monotonic()
        if self.refused:
            return  # what a refused broker still had in flight
        if self.buf:
            self.buf += data
            if len(self.buf) < self.need:
                return  # the packet is still incomplete: no parse, no copy (linear in its size)
            data = bytes(self.buf)
            self.buf.clear()
            self.need = 0
        items: list[Inbound] = []
        pos, end = 0, len(data)
        received_ms = int(now * 1000)
        gen = self.generation
        try:
            while end - pos >= 2:
                first = data[pos]
                # Inline varint: this loop runs once per message.
                i, length, shift = pos + 1, 0, 0
                while True:
                    if i >= end:
                        length = -1
                        break
                    b = data[i]
                    i += 1
                    length |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        raise MalformedPacket("remaining length longer than 4 bytes")
                if length < 0:
                    break
                if i - pos + length > self.max_packet:
                    raise _Refuse(
                        0x95,
                        f"a packet of {i - pos + length} bytes announced (type {first >> 4}), "
                        f"above mqtt.max_packet_bytes {self.max_packet}",
                    )
                if i + length > end:
                    self.need = i - pos + length
                    break
                stop = i + length
                if first >> 4 == codec.PUBLISH:
                    if (first & 0x06) == 0x02 and stop - i >= 5:
                        # Fast path, QoS 1 without properties: the same checks as
                        # parse_publish, without a call and an object per message.
                        t = i + 2 + ((data[i] << 8) | data[i + 1])
                        if t + 3 <= stop and data[t + 2] == 0:
                            mid = (data[t] << 8) | data[t + 1]
                            try:
                                topic = data[i + 2 : t].decode()
                            except UnicodeDecodeError:
                                topic = ""
                            bad = "+" in topic or "#" in topic or "\x00" in topic
                            if mid and topic and not bad:
                                payload = data[t + 3 : stop]
                                items.append(Inbound(topic, payload, mid, 1, received_ms, gen))
                                pos = stop
                                continue
                    p = codec.parse_publish(first, data, i, stop)
                    if p.qos > 1:
                        raise _Refuse(0x9B, "PUBLISH with QoS 2 on a QoS 1 subscription")
                    items.append(Inbound(p.topic, p.payload, p.pid, p.qos, received_ms, gen))
                else:
                    self._control(first, data[i:stop])
                pos = stop
        except MalformedPacket as exc:
            self.refuse(0x81, str(exc))
        except _Refuse as exc:
            if exc.reason == 0x95:
                self.source.packets_too_large += 1
            self.refuse(exc.reason, exc.detail)
        except Exception as exc:  # a bug: drop this link (unacked messages come again)
            log.exception("MQTT: internal error reading from the broker")
            self.refuse(0x83, f"internal error: {type(exc).__name__}")
        else:
            if pos < end:
                self.buf += memoryview(data)[pos:]
        if items:  # those before a bad packet are sound; their acks die with the link
            self.source.deliver(items, now)

    # --- packets other than PUBLISH ---------------------------------------------------
    def _control(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == codec.PUBACK:
            pid, reason = codec.parse_ack(body)
            self.source.on_puback(pid, reason)
        elif kind == codec.PINGRESP:
            pass
        elif kind == codec.CONNACK:
            if self.connack.done():
                raise _Refuse(0x82, "second CONNACK")
            connack = codec.parse_connack(body)
            self.source.on_connack(self, connack)
            self.connack.set_result(connack)
        elif kind == codec.SUBACK:
            pid, codes = codec.parse_suback(body)
            if pid == self.suback_pid and not self.suback.done():
                self.suback.set_result(codes)
        elif kind == codec.DISCONNECT:
            reason, text = codec.parse_disconnect(body)
            self.lost_reason = f"broker sent DISCONNECT: {reason_text(reason)}" + (
                f" {safe(text)}" if text else ""
            )
            if reason == 0x8E:
                self.source.sessions_taken_over += 1
                log.warning(
                    "MQTT: another client connected with our client id %s and took the session "
                    "over; reconnecting to take it back",
                    safe(self.source.settings.client_id),
                )
            if self.transport is not None:
                self.transport.close()
        else:
            raise _Refuse(0x82, f"unexpected packet type {kind}")

    # --- writing ------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def queue_ack(self, pid: int) -> None:
        self.acks += _PUBACK_HEAD
        self.acks += pid.to_bytes(2, "big")
        if not self.flush_pending:
            self.flush_pending = True
            asyncio.get_running_loop().call_soon(self.flush_acks)

    def flush_acks(self) -> None:
        """One write for every PUBACK queued since the last one (the writer acks in bursts)."""
        self.flush_pending = False
        if self.acks:
            self.write(bytes(self.acks))
            self.acks.clear()

    def refuse(self, reason: int, detail: str) -> None:
        """A broker that breaks the protocol: say why, DISCONNECT with the reason, drop the link."""
        self.refused = True
        self.buf.clear()
        # One log line says it all: the "lost the broker" warning that follows carries this.
        self.lost_reason = f"protocol error from the broker: {detail}; sent {reason_text(reason)}"
        self.acks.clear()
        self.write(codec.disconnect_packet(reason))
        if self.transport is not None:
            self.transport.close()


class _Refuse(SolarWaterError):
    def __init__(self, reason: int, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class NativeMqttSource(LinkState):
    """Persistent QoS 1 session in the event loop (the Source protocol)."""

    def __init__(
        self,
        settings: MqttSettings,
        intake: LoopIntake,
        state_dir: Path | None = None,
        direct_filters: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, state_dir)
        self.direct_filters = list(direct_filters)
        self.clock = clock  # what a message's receive time is read from
        self.intake = intake
        intake.on_pause = self._pause
        self.publish_dropped = 0
        self.username, self.password = credentials(settings, self.url)
        self._ssl: ssl.SSLContext | None = None
        if self.url.tls:
            try:
                self._ssl = tls_context(settings)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"mqtt TLS files: {exc}") from None
        self._link: _Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_pid = 0
        self._outq: deque[tuple[str, bytes, int, bool]] = deque()
        self._inflight: dict[int, tuple[str, bytes, int, bool]] = {}
        self._server_receive_max = 65535
        self._keepalive_warned = 0  # the last capped Server Keep Alive warned about

    @property
    def filters(self) -> list[str]:
        return subscription_filters(self.settings, self.direct_filters)

    # --- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background, retrying with capped exponential backoff."""
        self._task = asyncio.create_task(self._run(), name="mqtt-link")

    async def close(self) -> None:
        """Send the acks already released, DISCONNECT, and stop reconnecting."""
        self.stopping = True
        self.intake.close()
        link = self._link
        if link is not None and link.transport is not None:
            link.flush_acks()
            link.write(codec.DISCONNECT_NORMAL)
            if not link.transport.is_reading():
                link.transport.resume_reading()  # to see the broker close the link
            # The broker closes the link once it has read the DISCONNECT, so every ack before
            # it has been applied: a restart with the same client id cannot overtake them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(link.closed), 5)
            link.transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        s = self.settings
        delay = s.reconnect_min_s
        await asyncio.to_thread(self.load_session_marker)
        while not self.stopping:
            subscribed = False
            started = time.monotonic()
            try:
                subscribed = await self._session()
            except (OSError, TimeoutError) as exc:
                why = str(exc) or type(exc).__name__
                self.last_error = f"disconnected: cannot reach the broker: {why}"
                log.warning("cannot reach the broker %s: %s", self.url.redacted(), why)
            except Exception as exc:
                # A bug must cost a reconnect, never the link task (and so all ingest).
                self.last_error = f"disconnected: internal error: {type(exc).__name__}: {exc}"
                log.exception("MQTT link to %s failed; reconnecting", self.url.redacted())
            if self.stopping:
                return
            if subscribed and time.monotonic() - started >= STABLE_S:
                delay = s.reconnect_min_s  # a link that held: start the backoff afresh
            log.info("reconnecting to %s in %.1f s", self.url.redacted(), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, s.reconnect_max_s)

    async def _session(self) -> bool:
        """One connection from CONNECT to its loss; True once it was subscribed."""
        s = self.settings
        loop = asyncio.get_running_loop()
        gen = next(_GENERATIONS)
        timeout = float(s.keepalive_s)
        _, link = await asyncio.wait_for(
            loop.create_connection(
                lambda: _Link(self, gen),
                self.url.host,
                self.url.port,
                ssl=self._ssl,
                server_hostname=self.url.host if self._ssl else None,
            ),
            timeout,
        )
        keepalive: asyncio.Task[None] | None = None
        subscribed = False
        try:
            link.write(
                codec.connect_packet(
                    s.client_id,
                    keepalive=s.keepalive_s,
                    clean_start=False,
                    session_expiry=s.session_expiry_s,
                    receive_maximum=s.receive_maximum,
                    maximum_packet_size=s.max_packet_bytes,
                    username=self.username,
                    password=self.password if self.username else None,
                )
            )
            connack = await _first(link.connack, link.closed, timeout, "CONNACK")
            if connack.reason >= 0x80:
                why = connack.props.get(codec.REASON_STRING)
                said = f" ({safe(why)})" if isinstance(why, str) and why else ""
                self.last_error = f"connect refused: {reason_text(connack.reason)}{said}"
                log.warning(
                    "broker %s refused the connection: %s%s",
                    self.url.redacted(),
                    reason_text(connack.reason),
                    said,
                )
                return False
            keepalive = asyncio.create_task(self._keepalive(link, self._keepalive_s(connack)))
            record = self.check_session(connack.session_present)
            # A persistent session keeps subscriptions, but a broker that lost its state
            # (no persistence, expiry) would not: subscribe every time, and at once (a message
            # published before the SUBACK of a new session is not ours).
            link.suback_pid = self._pid()
            link.write(codec.subscribe_packet(link.suback_pid, self.filters, 1))
            self._resend_inflight(link)
            codes = await _first(link.suback, link.closed, timeout, "SUBACK")
            self.subscriptions += 1
            if record:
                await asyncio.to_thread(self.record_session)
            refused = [
                f"{f} ({reason_text(c)})"
                for f, c in zip(self.filters, codes, strict=False)
                if c > 1
            ]
            if refused:
                self.last_error = f"subscription refused: {', '.join(refused)}"
                log.error("broker %s refused %s", self.url.redacted(), ", ".join(refused))
            subscribed = True
            log.info(
                "connected to %s (session present: %s), subscribed to %s",
                self.url.redacted(),
                connack.session_present,
                ", ".join(self.filters),
            )
            if self.intake.paused and link.transport is not None:
                link.transport.pause_reading()
            await asyncio.shield(link.closed)
        except _LinkClosed:
            pass
        finally:
            was = self.connected and self._link is link
            if self._link is link:
                self._link = None
                self.connected = False
            if keepalive is not None:
                keepalive.cancel()
            if link.transport is not None and not link.transport.is_closing():
                link.transport.abort()
            if not self.stopping and (was or not link.connack.done()):
                self.last_error = f"disconnected: {link.lost_reason}"
                log.warning("lost the broker %s: %s", self.url.redacted(), link.lost_reason)
        return subscribed

    def _keepalive_s(self, connack: ConnAck) -> int:
        """Ours, or the broker's Server Keep Alive capped at `max_server_keepalive_s`: a broker
        asking for 65,535 s would leave a dead link unnoticed for a day."""
        s = self.settings
        ka = connack.props.get(codec.SERVER_KEEP_ALIVE, s.keepalive_s)
        ka = ka if isinstance(ka, int) and ka > 0 else s.keepalive_s
        if ka <= s.max_server_keepalive_s:
            return ka
        if self._keepalive_warned != ka:
            self._keepalive_warned = ka
            log.warning(
                "broker %s set Server Keep Alive %d s, above mqtt.max_server_keepalive_s: "
                "pinging and judging the link by %d s",
                self.url.redacted(),
                ka,
                s.max_server_keepalive_s,
            )
        return s.max_server_keepalive_s

    async def _keepalive(self, link: _Link, keepalive_s: int) -> None:
        """PINGREQ every half keepalive; no packet for 1.5x keepalive means the link is dead."""
        while True:
            await asyncio.sleep(keepalive_s / 2)
            paused = self.intake.paused
            if paused:
                link.last_rx = time.monotonic()  # we stopped reading, not the broker writing
            silent = time.monotonic() - link.last_rx
            if silent > keepalive_s * 1.5 and link.transport is not None:
                link.lost_reason = f"keepalive timeout: nothing from the broker for {silent:.0f} s"
                link.transport.abort()
                return
            link.write(codec.PINGREQ_PACKET)

    def _pause(self, paused: bool) -> None:
        link = self._link
        if link is None or link.transport is None or link.transport.is_closing():
            return
        if paused:
            link.transport.pause_reading()
        else:
            link.last_rx = time.monotonic()
            link.transport.resume_reading()

    # --- receiving ----------------------------------------------------------------------------
    def on_connack(self, link: _Link, connack: ConnAck) -> None:
        """Accepted: this link is current from here on, before any PUBLISH after it is read
        (the broker sends the session's queued messages right behind the CONNACK)."""
        if connack.reason >= 0x80:
            return
        self.generation = link.generation
        self._link = link
        self.connected = True
        self.connects += 1
        self.connected_since = time.time()
        rmax = connack.props.get(codec.RECEIVE_MAXIMUM, 65535)
        self._server_receive_max = rmax if isinstance(rmax, int) and rmax > 0 else 65535

    def deliver(self, items: list[Inbound], now: float) -> None:
        self.last_message_at = now
        self.intake.put_many(items)

    def ack(self, item: Inbound) -> bool:
        """Queue the PUBACK (written with the others of this loop turn), unless the message
        came on an older connection: it will come again."""
        link = self._link
        if item.qos == 0 or link is None or item.generation != link.generation:
            return False
        link.queue_ack(item.mid)
        return True

    # --- our own publishes (alert notifications) ------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Send now, or hold while disconnected (at most OUTBOX_MAX; beyond that counted, lost).

        QoS 1 messages are kept until the broker's PUBACK and resent with DUP on reconnect.
        """
        if len(self._outq) + len(self._inflight) >= OUTBOX_MAX:
            self.publish_dropped += 1
            if self.publish_dropped == 1 or self.publish_dropped % 100 == 0:
                log.error("MQTT outbox full: %d publishes dropped", self.publish_dropped)
            return
        self._outq.append((topic, payload, min(qos, 1), retain))
        self._pump()

    def _pump(self) -> None:
        link = self._link
        if link is None or not self.connected:
            return
        while self._outq:
            topic, payload, qos, retain = self._outq[0]
            if qos and len(self._inflight) >= self._server_receive_max:
                return
            self._outq.popleft()
            pid = 0
            if qos:
                pid = self._pid()
                self._inflight[pid] = (topic, payload, qos, retain)
            link.write(codec.publish_packet(topic, payload, qos, retain, pid))

    def _resend_inflight(self, link: _Link) -> None:
        for pid, (topic, payload, qos, retain) in self._inflight.items():
            link.write(codec.publish_packet(topic, payload, qos, retain, pid, dup=True))
        self._pump()

    def on_puback(self, pid: int, reason: int) -> None:
        msg = self._inflight.pop(pid, None)
        if msg is not None and reason >= 0x80:
            log.warning("broker refused our publish to %s: %s", msg[0], reason_text(reason))
        self._pump()

    def _pid(self) -> int:
        for _ in range(65535):
            self._next_pid = self._next_pid % 65535 + 1
            if self._next_pid not in self._inflight:
                return self._next_pid
        raise RuntimeError("no free MQTT packet id")  # cannot happen: OUTBOX_MAX < 65535


class _LinkClosed(SolarWaterError):
    """The link closed while a reply was awaited."""


async def _first(
    reply: asyncio.Future[T], closed: asyncio.Future[None], timeout: float, what: str
) -> T:
    """The reply, or _LinkClosed when the link closes first, or TimeoutError."""
    waiters: set[asyncio.Future[Any]] = {reply, closed}
    done, _ = await asyncio.wait(waiters, timeout=timeout, return_when="FIRST_COMPLETED")
    if reply in done and not reply.cancelled():
        return reply.result()
    if closed in done or reply.cancelled():
        raise _LinkClosed
    raise TimeoutError(f"no {what} from the broker within {timeout:.0f} s")


def make_source(
    settings: MqttSettings,
    loop: asyncio.AbstractEventLoop,
    max_items: int,
    state_dir: Path | None = None,
    direct_filters: Sequence[str] = (),
    clock: Callable[[], float] = time.time,
) -> tuple[NativeMqttSource, LoopIntake]:
    """The broker source and the feed its messages arrive on.

    `state_dir` holds the session marker (data_dir); without it only this run's sessions count.
    `direct_filters` (gateways' topics) are subscribed by the process that takes status.
    """
    intake = LoopIntake(loop, max_items)
    return NativeMqttSource(settings, intake, state_dir, direct_filters, clock), intake
