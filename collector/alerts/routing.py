"""Which technicians hear about which station: routes by district or station, and a fallback."""

from __future__ import annotations

from dataclasses import dataclass

from collector.alerts.settings import AlertSettings
from devices.stations import Fleet


@dataclass(frozen=True, slots=True)
class Target:
    """One route's reach for one alert."""

    route: str
    notifiers: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]


class Router:
    """Routes that name the station or its district at the severity; the fallback when none does."""

    def __init__(self, settings: AlertSettings, fleet: Fleet) -> None:
        self.settings = settings
        self.fleet = fleet

    def unknown_names(self) -> list[str]:
        """Districts and stations named in routes that the fleet does not have (typos)."""
        if not self.fleet.stations:
            return []
        districts = {s.district for s in self.fleet.stations}
        bad = []
        for r in self.settings.routes:
            bad += [f"route {r.name!r}: district {d!r}" for d in r.districts if d not in districts]
            bad += [
                f"route {r.name!r}: station {s!r}" for s in r.stations if self.fleet.get(s) is None
            ]
        return bad

    def targets(self, station: str, severity: str) -> list[Target]:
        """Every route that names the station or its district and takes the severity; else
        the fallback, when it takes the severity (docs/alerts.md, "Routing")."""
        district = self.fleet.district_of(station)
        matched = [
            Target(r.name, r.notifiers, r.recipients.emails, r.recipients.phones)
            for r in self.settings.routes
            if severity in r.severities
            and (station in r.stations or (district is not None and district in r.districts))
        ]
        if matched:
            return matched
        fb = self.settings.fallback
        if not fb.notifiers or severity not in fb.severities:
            return []
        return [Target("fallback", fb.notifiers, fb.recipients.emails, fb.recipients.phones)]
