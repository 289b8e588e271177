"""`python -m collector.alerts.routes_from_fleet`: the alerts config, one route per district.

From the fleet file and a contacts file (technicians and the districts they take), plus the
coordination's contacts (the fallback) from the command line, e.g. from `.env`. A district
nobody takes at a severity gets no route for it and falls through to the fallback, so the
result has no hole. The notifiers are `mail` (e-mail) and `sms` (webhook to an HTTP SMS
gateway); their servers and secrets come from SOLARWATER_ALERTS__NOTIFIERS__<NAME>__*.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.alerts.rules import Severity
from collector.alerts.settings import Recipients
from devices.errors import ConfigError
from devices.stations import Fleet, load_fleet

SEVERITIES: tuple[str, ...] = get_args(Severity)
MAIL, SMS = "mail", "sms"  # the notifier names the generated config defines
NOTIFIERS: dict[str, dict[str, str]] = {MAIL: {"type": "email"}, SMS: {"type": "webhook"}}


class Technician(Recipients):
    """One person (or team), their addresses (checked as a route's) and the districts they take."""

    name: str = Field(min_length=1)
    districts: tuple[str, ...] = Field(min_length=1)
    severities: tuple[Severity, ...] = Field(("warning", "critical"), min_length=1)


class Contacts(BaseModel):
    """The contacts file: the coordination (the fallback) and the technicians by district."""

    model_config = ConfigDict(extra="forbid")

    coordination: Recipients = Recipients()
    technicians: tuple[Technician, ...] = ()


def slug(district: str) -> str:
    """A route name from a district: `Mocímboa da Praia` -> `mocimboa-da-praia`."""
    ascii_ = unicodedata.normalize("NFKD", district).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")[:64] or "district"


def load_contacts(path: Path | None) -> Contacts:
    """The contacts file validated, or a one-line ConfigError naming the place."""
    if path is None:
        return Contacts()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"contacts file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"contacts file {path}: not valid YAML ({exc})".splitlines()[0]) from None
    try:
        return Contacts.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"contacts file {path}: {where}: {msg}") from None


def _recipients(emails: tuple[str, ...], phones: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if emails:
        out["emails"] = list(dict.fromkeys(emails))
    if phones:
        out["phones"] = list(dict.fromkeys(phones))
    return out


def _notifiers(recipients: dict[str, Any]) -> list[str]:
    """E-mail when there are addresses, SMS when there are phone numbers."""
    return [n for n, key in ((MAIL, "emails"), (SMS, "phones")) if recipients.get(key)]


def _route(name: str, district: str, severities: list[str], techs: list[Technician]) -> Any:
    recipients = _recipients(
        tuple(e for t in techs for e in t.emails), tuple(p for t in techs for p in t.phones)
    )
    return {
        "name": name,
        "districts": [district],
        "severities": severities,
        "notifiers": _notifiers(recipients),
        "recipients": recipients,
    }


def build(fleet: Fleet, contacts: Contacts, coordination: Recipients) -> dict[str, Any]:
    """The `alerts:` section: routes per district of the fleet, the coordination as fallback."""
    districts = sorted({s.district for s in fleet.stations})
    for t in contacts.technicians:
        for d in t.districts:
            if d not in districts:
                near = difflib.get_close_matches(d, districts, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ConfigError(
                    f"contacts: technician {t.name!r}: district {d!r} is not in the fleet{hint}"
                )
        if not t.emails and not t.phones:
            raise ConfigError(f"contacts: technician {t.name!r} has no emails and no phones")
    fallback = _recipients(
        contacts.coordination.emails + coordination.emails,
        contacts.coordination.phones + coordination.phones,
    )
    if not fallback:
        raise ConfigError(
            "contacts: no coordination contact (ALERTS_EMAILS / ALERTS_PHONES in .env, or "
            "coordination in the contacts file): the districts nobody takes would reach nobody"
        )
    routes = []
    for d in districts:
        by_severity = {
            sev: [t for t in contacts.technicians if d in t.districts and sev in t.severities]
            for sev in SEVERITIES
        }
        taken = {sev: techs for sev, techs in by_severity.items() if techs}
        if len({tuple(t.name for t in techs) for techs in taken.values()}) == 1:
            techs = next(iter(taken.values()))
            routes.append(_route(slug(d), d, list(taken), techs))
        else:  # different people per severity: a route for each
            routes += [_route(f"{slug(d)}-{sev}", d, [sev], t) for sev, t in taken.items()]
    return {
        "alerts": {
            "notifiers": {n: dict(v) for n, v in NOTIFIERS.items()},
            "routes": routes,
            "fallback": {"notifiers": _notifiers(fallback), "recipients": fallback},
        }
    }


def _split(values: list[str]) -> tuple[str, ...]:
    """Repeated and comma-separated values, empty ones left out (an unset .env variable)."""
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m collector.alerts.routes_from_fleet",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("--fleet", type=Path, help="station registry YAML (default: sample fleet)")
    p.add_argument("--contacts", type=Path, help="contacts file (technicians by district)")
    p.add_argument("--coordination-emails", action="append", default=[], metavar="ADDR[,ADDR]")
    p.add_argument("--coordination-phones", action="append", default=[], metavar="TEL[,TEL]")
    p.add_argument("--out", type=Path, help="write the config here (default: stdout)")
    return p.parse_args(argv)


HEADER = (
    "# Generated by python -m collector.alerts.routes_from_fleet from {fleet} and {contacts};\n"
    "# edit those and run it again. Notifier servers and secrets: SOLARWATER_ALERTS__NOTIFIERS__*\n"
)


def write(path: Path, text: str) -> None:
    """Whole or not at all: the collector never reads half a config."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        fleet = load_fleet(args.fleet)
        coordination = Recipients(
            emails=_split(args.coordination_emails), phones=_split(args.coordination_phones)
        )
        config = build(fleet, load_contacts(args.contacts), coordination)
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        print(f"routes_from_fleet: coordination: {msg}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"routes_from_fleet: {exc}", file=sys.stderr)
        return 2
    text = HEADER.format(
        fleet=args.fleet or "the sample fleet", contacts=args.contacts or "no contacts file"
    ) + yaml.safe_dump(config, allow_unicode=True, sort_keys=False, default_flow_style=None)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        write(args.out, text)
    except OSError as exc:
        print(f"routes_from_fleet: --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
