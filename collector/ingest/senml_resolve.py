"""SenML packs (RFC 8428, JSON) resolved as §4.6 says: base fields applied, times absolute."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from devices.errors import SolarWaterError

# RFC 8428 §4.4: a version above the one we understand MUST NOT be used; 10 is the default.
SENML_VERSION = 10
# §4.5.3: times below 2**28 are relative to "now" (here: when the collector received the pack).
RELATIVE_BELOW = 2**28
# §4.5.1: the characters of a concatenated name, starting with a letter or digit.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*")
VALUE_LABELS = ("v", "vs", "vb", "vd")
_NUMBER_LABELS = ("bt", "bv", "bs", "v", "s", "t", "ut")
_STRING_LABELS = ("bn", "bu", "n", "u", "vs", "vd")
Value = float | int | str | bool


class PackError(SolarWaterError, ValueError):
    """A pack refused as a whole; `reason` is the metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Resolved:
    """One record resolved: name, unit and time absolute; `problem` when it cannot be used."""

    index: int  # the record's position in the pack
    name: str
    unit: str | None
    time: float  # seconds since the Unix epoch
    label: str | None  # which value field the record had: v, vs, vb or vd
    value: Value | None
    sum: float | None
    update_time: float | None
    problem: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The resolved record as RFC 8428 writes one (§5.1.4), without a version field."""
        out: dict[str, Any] = {"n": self.name}
        if self.unit is not None:
            out["u"] = self.unit
        out["t"] = self.time
        if self.label is not None:
            out[self.label] = self.value
        if self.sum is not None:
            out["s"] = self.sum
        if self.update_time is not None:
            out["ut"] = self.update_time
        return out


def _record(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object of the pack; a label given twice would be last-one-wins: refused."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise PackError("bad_senml", "a label appears twice in one record")
    return obj


def _integer(text: str) -> int | float:
    """A JSON integer as a double holds it beyond 64 bits (1e400 then is inf: not finite)."""
    value = int(text)
    return value if -(2**63) <= value < 2**64 else float(text)


def _no_constant(name: str) -> Any:
    raise PackError("bad_senml", f"{name} is not JSON")


def parse(payload: bytes) -> Any:
    """The pack's JSON, refusing what orjson's last-one-wins would hide; raises PackError."""
    # SenML comes from a few loggers, not the fleet's hot path: the stdlib parser's pair
    # hook is worth its cost here.
    try:
        return json.loads(
            payload.decode("utf-8"),
            object_pairs_hook=_record,
            parse_int=_integer,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8, digits, depth
        if isinstance(exc, PackError):
            raise
        raise PackError("bad_senml", f"not JSON: {exc}"[:200]) from None


def _is_number(x: Any) -> bool:
    return type(x) in (int, float)


def _check_labels(index: int, record: dict[str, Any]) -> str | None:
    """What is wrong with the JSON types of a record's known labels, or None."""
    for label in _NUMBER_LABELS:
        if label in record and not _is_number(record[label]):
            return f"record {index}: {label!r} must be a number"
    for label in _STRING_LABELS:
        if label in record and type(record[label]) is not str:
            return f"record {index}: {label!r} must be a string"
    if "vb" in record and type(record["vb"]) is not bool:
        return f"record {index}: 'vb' must be true or false"
    return None


def _check_pack(pack: Any) -> list[dict[str, Any]]:
    """The records of a pack whose structure, version and labels we may use; else PackError."""
    if type(pack) is not list or not pack:
        raise PackError("bad_senml", "a SenML pack is a non-empty JSON array of records")
    version: int | None = None
    for index, record in enumerate(pack):
        if type(record) is not dict:
            raise PackError("bad_senml", f"record {index} is not a JSON object")
        # §4.4: a label ending in '_' must be understood; we understand none
        unknown = next((k for k in record if k.endswith("_")), None)
        if unknown is not None:
            detail = f"record {index}: must-understand label {unknown[:40]!r} is not supported"
            raise PackError("must_understand", detail)
        if "bver" in record:
            bver = record["bver"]
            if type(bver) is not int or bver < 1:
                raise PackError("bad_senml", f"record {index}: 'bver' must be a positive integer")
            if bver > SENML_VERSION:
                detail = f"record {index}: SenML version {bver} > {SENML_VERSION}"
                raise PackError("unsupported_version", detail)
            if version is not None and bver != version:
                raise PackError("bad_senml", f"record {index}: version {bver} after {version}")
            version = bver
        for label in ("bn", "bt", "bu", "bv", "bs"):
            if label in record and not (
                type(record[label]) is str if label in ("bn", "bu") else _is_number(record[label])
            ):
                raise PackError("bad_senml", f"record {index}: base field {label!r} has a bad type")
    return pack


def resolve(pack: Any, received_s: float) -> list[Resolved]:
    """The pack's records resolved, in chronological order (stable); raises PackError.

    A record that cannot be used keeps its place with a `problem` (reason, detail), so its
    neighbours still resolve: base fields in it apply all the same, as §4.1 has them do.
    """
    records = _check_pack(pack)
    bn, bt, bu, bv, bs = "", 0.0, None, None, None
    out: list[Resolved] = []
    for index, record in enumerate(records):
        bn = record.get("bn", bn)
        bt = record.get("bt", bt)
        bu = record.get("bu", bu)
        bv = record.get("bv", bv)
        bs = record.get("bs", bs)
        name = bn + record.get("n", "") if type(record.get("n", "")) is str else bn
        raw_t = record.get("t", 0)
        t = bt + (raw_t if _is_number(raw_t) else 0)
        if t < RELATIVE_BELOW:
            t = received_s + t
        unit = record.get("u", bu)
        labels = [k for k in VALUE_LABELS if k in record]
        problem: tuple[str, str] | None = None
        bad = _check_labels(index, record)
        if bad is not None:
            problem = ("bad_senml", bad)
        elif NAME_RE.fullmatch(name) is None:
            problem = ("bad_senml", f"record {index}: name {name[:80]!r} breaks RFC 8428 §4.5.1")
        elif len(labels) > 1:
            problem = ("bad_senml", f"record {index}: more than one value field {labels}")
        elif not labels and "s" not in record and bs is None:
            problem = ("no_value", f"record {index}: neither a value nor a sum")
        label = labels[0] if len(labels) == 1 else None
        value: Value | None = record[label] if label is not None else None
        if label == "v" and bv is not None and problem is None:
            value = bv + value
        total = None
        if ("s" in record or bs is not None) and problem is None:
            total = (bs or 0) + record.get("s", 0)
        ut = record.get("ut") if problem is None else None
        out.append(Resolved(index, name, unit, t, label, value, total, ut, problem))
    out.sort(key=lambda r: r.time)
    return out
