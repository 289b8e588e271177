"""Two batches are written at once, and their messages are still acknowledged in order."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

from aiohttp import web

from collector.broker.intake import Inbound
from collector.config import InfluxSettings
from collector.metrics import Metrics
from collector.store.sinks import Sink
from collector.store.sinks.influx_v1 import InfluxV1Sink
from collector.store.spool import Spool
from collector.store.writer import AckFn, Writer


def one_line_batches(sink: Sink, spool_dir: Path, ack: AckFn, metrics: Metrics) -> Writer:
    """A writer that writes each hand-off as it is, retrying every 0.05 s."""
    return Writer(
        sink,
        Spool(spool_dir, 1 << 20, 1 << 16),
        ack,
        metrics,
        lambda reason, lines: None,
        batch_lines=1,
        batch_acks=10,
        flush_interval_s=10,
        replay_lines=10,
        retry_min_s=0.05,
        retry_max_s=0.05,
    )


async def test_second_write_overlaps_first_and_acks_wait_for_it(tmp_path: Path) -> None:
    events: list[str] = []
    first_started = asyncio.Event()

    async def write(request: web.Request) -> web.Response:
        body = await request.text()
        events.append(f"start {body}")
        if body.startswith("first"):
            first_started.set()
            await asyncio.sleep(0.3)  # the second request arrives while this one is held
        events.append(f"end {body}")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/write", write)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sink = InfluxV1Sink(InfluxSettings(url=f"http://127.0.0.1:{port}", db="t"))
    await sink.start()
    acked: list[int] = []

    def ack(item: Inbound) -> bool:
        acked.append(item.mid)
        events.append(f"ack {item.mid}")
        return True

    writer = one_line_batches(sink, tmp_path / "spool", ack, Metrics())
    writer.start()
    try:
        writer.add(["first a=1 1"], 1, Inbound("t", b"", 1, 1, 0, 0))
        await writer.hand_off()
        await first_started.wait()
        writer.add(["second a=1 2"], 1, Inbound("t", b"", 2, 1, 0, 0))
        await writer.hand_off()
        await asyncio.wait_for(writer.queue.join(), 5)
    finally:
        await writer.stop()
        await sink.close()
        await runner.cleanup()
    assert acked == [1, 2]
    assert events.index("start second a=1 2") < events.index("end first a=1 1")
    # the second batch was durable first, but its ack waited for the first batch's
    assert (
        events.index("end second a=1 2") < events.index("end first a=1 1") < events.index("ack 1")
    )


async def test_failing_spool_holds_acks_and_the_writer_lives_on(tmp_path: Path) -> None:
    """InfluxDB down and the spool folder gone: no ack, counted, and it recovers by itself."""
    with socket.socket() as s:  # a port nothing listens on: InfluxDB is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = InfluxV1Sink(InfluxSettings(url=f"http://127.0.0.1:{port}", db="t"))
    await sink.start()
    acked: list[int] = []
    metrics = Metrics()
    spool_dir = tmp_path / "spool"
    writer = one_line_batches(sink, spool_dir, lambda item: acked.append(item.mid) is None, metrics)
    shutil.rmtree(spool_dir)  # the disk the spool lives on is gone
    writer.start()
    try:
        writer.add(["m a=1 1"], 1, Inbound("t", b"", 7, 1, 0, 0))
        assert not await writer.drain(timeout=0.5)  # bounded, as at shutdown
        assert acked == [] and writer.spool_blocked
        assert metrics.counters["spool_errors"] >= 1
        spool_dir.mkdir()
        assert await writer.drain(timeout=5)
    finally:
        await writer.stop()
        await sink.close()
    assert acked == [7]
    assert metrics.counters["spool_appended"] == 1 and not writer.spool_blocked
