"""The routing matrix: who each (district, severity) pair of the fleet reaches, and the holes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import get_args

from collector.alerts.routing import Router, Target
from collector.alerts.rules import Severity
from collector.alerts.settings import AlertSettings
from devices.stations import Fleet

SEVERITIES: tuple[str, ...] = get_args(Severity)
UNREGISTERED = "(unregistered)"  # the row of stations the fleet file does not list
_NOT_A_STATION = ""  # no station id is empty: the router sees an unregistered station


@dataclass(frozen=True, slots=True)
class Cell:
    """One pair of the matrix: a district (or one of its stations), a severity, its targets."""

    district: str
    station: str | None  # set when this station is routed unlike the rest of its district
    severity: str
    targets: tuple[Target, ...]

    @property
    def place(self) -> str:
        return self.district if self.station is None else f"{self.district}/{self.station}"


def routing_configured(settings: AlertSettings) -> bool:
    """False when nothing is meant to page: no notifier, no route, no fallback notifier."""
    return bool(settings.notifiers or settings.routes or settings.fallback.notifiers)


def matrix(settings: AlertSettings, fleet: Fleet) -> list[Cell]:
    """Every district of the fleet by every severity, then the unregistered stations' row.

    A district whose stations are not all routed alike (a route naming a station) gets a
    row per station instead of one for the district.
    """
    router = Router(settings, fleet)
    by_district: dict[str, list[str]] = {}
    for s in fleet.stations:
        by_district.setdefault(s.district, []).append(s.id)
    cells: list[Cell] = []
    for district in sorted(by_district):
        for severity in SEVERITIES:
            per_station = {
                sid: tuple(router.targets(sid, severity)) for sid in by_district[district]
            }
            if len(set(per_station.values())) == 1:
                cells.append(Cell(district, None, severity, next(iter(per_station.values()))))
            else:
                cells += [Cell(district, sid, severity, t) for sid, t in per_station.items()]
    for severity in SEVERITIES:
        targets = tuple(router.targets(_NOT_A_STATION, severity))
        cells.append(Cell(UNREGISTERED, None, severity, targets))
    return cells


def holes(cells: list[Cell]) -> list[Cell]:
    """The pairs of the fleet that reach nobody (the unregistered row is not of the fleet)."""
    return [c for c in cells if not c.targets and c.district != UNREGISTERED]


def hole_message(cells: list[Cell]) -> str | None:
    """One line naming the first unreached pair, or None when every pair reaches someone."""
    missing = holes(cells)
    if not missing:
        return None
    first = missing[0]
    more = f" (+{len(missing) - 1} more unreached)" if len(missing) > 1 else ""
    return (
        f"routing leaves ({first.place}, {first.severity}) unreached: no route takes it and "
        f"the fallback does not take {first.severity}{more}; add a route or fallback"
        " notifiers (--check-config prints the routing matrix)"
    )


def describe(target: Target, settings: AlertSettings) -> str:
    """`route: notifier:recipients ...`, each notifier with the addresses it reaches."""
    parts = []
    for name in target.notifiers:
        ns = settings.notifiers.get(name)
        kind = ns.addresses if ns is not None else "none"
        who = {"emails": target.emails, "phones": target.phones}.get(kind, ())
        parts.append(f"{name}:{','.join(who)}" if who else name)
    return f"{target.route}: {' '.join(parts)}"


def matrix_lines(settings: AlertSettings, fleet: Fleet) -> list[str]:
    """The matrix as `--check-config` prints it: one line per (district, severity) pair."""
    if not routing_configured(settings):
        return [
            "routing: no notifiers, routes or fallback configured: alerts are recorded "
            "(GET /alerts, the InfluxDB alert measurement) and nobody is paged"
        ]
    cells = matrix(settings, fleet)
    width = max(len(c.place) for c in cells)
    lines = ["routing (district, severity -> route: notifier:recipients):"]
    for c in cells:
        reach = " + ".join(describe(t, settings) for t in c.targets) or "NOBODY"
        lines.append(f"  {c.place:<{width}}  {c.severity:<8}  -> {reach}")
    return lines


def routing_problem(settings: AlertSettings, fleet: Fleet) -> str | None:
    """The start-up check: one line naming the first unreached pair, or None."""
    if not settings.enabled or not routing_configured(settings):
        return None
    return hole_message(matrix(settings, fleet))


def routing_notes(settings: AlertSettings, fleet: Fleet) -> list[tuple[int, str]]:
    """(log level, line) of what start-up accepts: no paging at all (info: tests, demos),
    or stations outside the fleet file unreached (warning)."""
    if not settings.enabled:
        return []
    if not routing_configured(settings):
        return [(logging.INFO, matrix_lines(settings, fleet)[0].removeprefix("routing: "))]
    return [
        (
            logging.WARNING,
            f"{c.severity} alerts of stations outside the fleet file reach nobody "
            "(give the fallback notifiers)",
        )
        for c in matrix(settings, fleet)
        if c.district == UNREGISTERED and not c.targets
    ]
