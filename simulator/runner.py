"""A simulation run: step every station's model on the simulated clock and publish what it says."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devices.errors import ConfigError, SolarWaterError
from devices.stations import Station, load_fleet
from simulator.config import SimulationConfig
from simulator.credentials import load_credentials
from simulator.dialects import LinkContext, StationLink, make_link
from simulator.gateway_link import CONNECT_TIMEOUT_S
from simulator.mqtt_url import parse_mqtt_url, tls_context
from simulator.netloop import Network
from simulator.scenarios import build_scenario
from simulator.station_model import StationModel
from simulator.summary import Summary
from simulator.timefmt import epoch_of, format_rfc3339

PROGRESS_EVERY_S = 2.0
CLOSE_TIMEOUT_S = 10.0
# How long the run waits for links that publish only when asked (a GX, for a keep-alive).
READY_TIMEOUT_S = 35.0


class SimulationError(SolarWaterError, RuntimeError):
    """A run that could not start or finish; the message is one line, `summary` what got through."""

    def __init__(self, message: str, summary: Summary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class _Station:
    station: Station
    model: StationModel
    link: StationLink


def resolve_start(config: SimulationConfig, now: float | None = None) -> float:
    """`--start`, or now minus the duration aligned down to the interval (never in the future)."""
    if config.start is not None:
        return epoch_of(config.start)
    t = (time.time() if now is None else now) - config.duration_s
    return math.floor(t / config.interval_s) * config.interval_s


def _stations(config: SimulationConfig) -> list[Station]:
    fleet = config.fleet if config.fleet is not None else load_fleet(config.fleet_file)
    chosen = list(fleet.stations[: config.stations] if config.stations else fleet.stations)
    if not chosen:
        raise ConfigError("the fleet has no stations")
    return chosen


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_simulation(
    config: SimulationConfig,
    *,
    record: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Run the simulation against the broker; counts only PUBACKed readings and messages.

    Raises ValueError for unusable settings and SimulationError when the broker cannot be
    reached at start or the buffers cannot be drained before the timeout.
    """
    stations = _stations(config)
    ids = [s.id for s in stations]
    districts = {s.id: s.district for s in stations}
    scenario = build_scenario(config.scenario, ids, config.scenario_station, districts)
    broker = parse_mqtt_url(config.mqtt_url, config.ca_file)
    logins = load_credentials(config.credentials_file) if config.credentials_file else None
    missing = [i for i in ids if logins is not None and i not in logins]
    if missing:
        raise ConfigError(f"credentials file has no password for station {missing[0]}")
    # one context for the fleet: the CA file is read once, not once per station
    tls = tls_context(broker) if broker.tls else None
    start = resolve_start(config)
    ticks = config.duration_s // config.interval_s
    summary = Summary(
        start=format_rfc3339(start),
        end=format_rfc3339(start + ticks * config.interval_s),
        interval_s=config.interval_s,
        seed=config.seed,
        scenario=scenario.name,
    )
    say = None if config.quiet else (progress or _stderr)
    tmp = None
    if config.state_dir is None:
        tmp = tempfile.mkdtemp(prefix="solarwater-sim-")
    state_dir = Path(tmp) if tmp else Path(config.state_dir or ".")
    sims: list[_Station] = []
    try:
        for st in stations:
            model = StationModel(
                st, config.seed, scenario, interval_s=config.interval_s, start=start
            )
            ctx = LinkContext(
                config.prefix,
                broker,
                summary,
                config.window,
                config.buffer_max,
                state_dir,
                record,
                tls,
                username=st.id if logins is not None else None,
                password=logins[st.id] if logins is not None else None,
            )
            link = make_link(st, config.dialect or st.dialect, ctx)
            sims.append(_Station(st, model, link))
        all_links = [s.link for s in sims]
        net = Network(all_links)
        try:
            _connect_all(net, all_links, broker.display)
            summary.truth.facts = dict(scenario.facts)
            _run_ticks(config, sims, net, summary, start, ticks, say)
            summary.truth.finish(start + ticks * config.interval_s)
            _drain(config, net, all_links, summary)
        finally:
            _close(net, all_links)
    finally:
        for s in sims:
            s.link.close_buffers()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _connect_all(net: Network, links: list[StationLink], where: str) -> None:
    for link in links:
        link.connect()
        if link.state == "idle":
            raise SimulationError(f"cannot connect to broker {where}: {link.last_error}")
    # a refusal (bad login) will not change on retry: say so at once
    net.wait_until(
        lambda: (
            all(link.state == "connected" for link in links) or any(link.refused for link in links)
        ),
        CONNECT_TIMEOUT_S + 1,
    )
    bad = next((link for link in links if link.refused or link.state != "connected"), None)
    if bad is not None:
        why = bad.last_error or "no answer"
        raise SimulationError(
            f"cannot connect to broker {where} as {bad.username or bad.client_id}: {why}"
        )
    # a GX publishes once kept alive: give the collector's keep-alive its time (no wait
    # for native stations, which buffer)
    net.wait_until(lambda: all(link.ready() for link in links), READY_TIMEOUT_S)


def _run_ticks(
    config: SimulationConfig,
    sims: list[_Station],
    net: Network,
    summary: Summary,
    start: float,
    ticks: int,
    say: Callable[[str], None] | None,
) -> None:
    t0 = time.monotonic()
    last_report = t0
    links = net.links
    for k in range(ticks):
        ts = start + k * config.interval_s
        if config.speed > 0:
            due = t0 + k * config.interval_s / config.speed
            while (now := time.monotonic()) < due:
                net.service(min(due - now, 0.25))
        else:
            # as fast as the broker takes it: hold the clock while a device lags or reconnects
            while any(link.lagging() for link in links):
                net.service(0.25)
        for sim in sims:
            fx = sim.model.effects(ts)
            readings = sim.model.step_devices(ts)
            link = sim.link
            cause = sim.model.scenario.silence_cause(sim.station.id, fx, sim.model.modem_powered())
            by_kind = {d.kind: readings[d.id] for d in sim.station.devices}
            summary.truth.observe(sim.station, ts, by_kind, cause)
            if fx.link_down or cause == "power":
                link.cut_link()
            else:
                link.restore_link()
            if fx.silent:
                summary.dropped["silent"] += len(readings)
                continue
            link.offer(ts, readings)
        net.service(0)
        now = time.monotonic()
        if say is not None and now - last_report >= PROGRESS_EVERY_S:
            last_report = now
            rate = summary.readings.total / max(1e-9, now - t0)
            say(
                f"simulated {format_rfc3339(ts)} ({k + 1}/{ticks} ticks), "
                f"{summary.readings.total} readings acknowledged, {rate:.0f}/s"
            )


def _drain(
    config: SimulationConfig, net: Network, links: list[StationLink], summary: Summary
) -> None:
    # the run is over: every link comes back and flushes what it buffered
    for link in links:
        link.restore_link()
    if net.wait_until(lambda: all(link.idle for link in links), config.drain_timeout_s):
        return
    left = sum(link.unsent() for link in links)
    summary.dropped["not_acknowledged"] += left
    why = next((link.last_error for link in links if link.last_error), "") or "broker slow"
    raise SimulationError(
        f"{left} readings not acknowledged after {config.drain_timeout_s:g}s ({why})", summary
    )


def _close(net: Network, links: list[StationLink]) -> None:
    for link in links:
        link.begin_close()
    closing = [link for link in links if link.state == "closing"]
    net.wait_until(
        lambda: all(link.offline_acked or link.state != "closing" for link in closing),
        CLOSE_TIMEOUT_S,
    )
    for link in links:
        link.finish_close()
