"""`python -m collector.alerts.technician_tokens`: add a technician or rotate their token.

The new token is printed once on stdout; the file keeps only its SHA-256.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from collector.alerts.technicians import (
    TechnicianSettings,
    new_token,
    read_file,
    token_hash,
    write_file,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m collector.alerts.technician_tokens",
        description="Add a technician or rotate their token; the token is printed once.",
    )
    p.add_argument("--file", type=Path, required=True, help="the alerts.technicians_file")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a technician, or give an existing one a new token")
    add.add_argument("name")
    add.add_argument("--district", action="append", help="repeat for several (new ones: needed)")
    sub.add_parser("list", help="names and districts (never tokens)")
    rm = sub.add_parser("remove", help="remove a technician (their token stops working)")
    rm.add_argument("name")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        techs = read_file(args.file)
    except ValueError as exc:
        print(f"technicians: {exc}", file=sys.stderr)
        return 2
    old = next((t for t in techs if t.name == args.name), None) if "name" in args else None
    if args.command == "list":
        for t in techs:
            print(f"{t.name}: {', '.join(t.districts)}")
        return 0
    if args.command == "remove":
        if old is None:
            print(f"technicians: no technician {args.name!r}", file=sys.stderr)
            return 2
        write_file(args.file, [t for t in techs if t is not old])
        return 0
    districts = tuple(args.district or (old.districts if old else ()))
    if not districts:
        print("technicians: a new technician needs --district", file=sys.stderr)
        return 2
    token = new_token()
    try:
        entry = TechnicianSettings(
            name=args.name, districts=districts, token_sha256=token_hash(token)
        )
    except ValidationError as exc:
        print(f"technicians: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    write_file(args.file, [entry if t is old else t for t in techs] + ([] if old else [entry]))
    verb = "rotated" if old else "added"
    print(f"{verb} {args.name} ({', '.join(districts)}); token (shown once):", file=sys.stderr)
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
