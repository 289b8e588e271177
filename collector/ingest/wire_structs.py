"""msgspec Structs of each kind's JSON readings (design §3), generated from the catalogue.

One C pass parses a message and checks every field's type and bounds (~0.7 us a reading,
its dict included, against ~2 us for orjson and the per-field checker). It only vouches for
a message: a message it does not accept goes to the general path, which names the refusal,
so what is accepted and why anything is refused stay exactly as before. Hence a null field
or `ts` is left out of the types (the general path reads them), and Literal choices, not
free text.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from devices.kind import DeviceKind, optional_bounded

_SEQ_MAX = 2**63 - 1
_Seq = Annotated[int, Meta(ge=0, le=_SEQ_MAX)]
# epoch seconds (an int or a float) or an RFC 3339 string; the decoder judges the time
_Ts = float | int | str
Decoded = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class WireDecoder:
    """A kind's readings: one object, or {"readings": [...]}, as plain dicts in model order."""

    kind: str
    one: msgspec.json.Decoder[Any]
    many: msgspec.json.Decoder[Any]

    def decode(self, payload: bytes) -> tuple[Decoded, bool] | None:
        """(readings, is a batch), each with `ts`/`seq` if sent; None: not vouched for."""
        try:
            return [msgspec.to_builtins(self.one.decode(payload))], False
        except msgspec.DecodeError:  # ValidationError too
            if b"readings" not in payload:
                return None
        try:
            batch = self.many.decode(payload)
        except msgspec.DecodeError:
            return None
        return msgspec.to_builtins(batch.readings), True


def _field_type(kind: DeviceKind, name: str) -> Any:
    """The msgspec type of one field from its pydantic declaration; None: not expressible."""
    declared = optional_bounded(kind, name)
    if declared is None:
        return None
    ann, lo, hi = declared
    if typing.get_origin(ann) is Literal and name in kind.str_fields and lo is hi is None:
        choices = typing.get_args(ann)
        return Literal[choices] if all(type(c) is str for c in choices) else None
    if ann is float and name not in kind.int_fields | kind.str_fields:
        # msgspec refuses 1e400 and JSON has no NaN: finite, as the model's allow_inf_nan=False
        lo, hi = (None if b is None else float(b) for b in (lo, hi))
        return Annotated[float, Meta(ge=lo, le=hi)]
    if (
        ann is int
        and name in kind.int_fields
        and all(type(b) in (int, type(None)) for b in (lo, hi))
    ):
        return Annotated[int, Meta(ge=lo, le=hi)]
    return None


def wire_decoder(kind: DeviceKind) -> WireDecoder | None:
    """The kind's Structs, or None when its model declares more than they express.

    That is the compiled checker's reach (devices/kind.py): optional float, int and
    Literal fields with ge/le, strict, no extra fields, no validators of its own.
    """
    if not kind.compiled or {"ts", "seq", "readings"} & set(kind.field_names):
        return None
    fields: list[tuple[str, Any, Any]] = [
        ("ts", _Ts | UnsetType, UNSET),
        ("seq", _Seq | UnsetType, UNSET),
    ]
    for name in kind.field_names:
        ann = _field_type(kind, name)
        if ann is None:
            return None
        fields.append((name, ann | UnsetType, UNSET))
    one = msgspec.defstruct(
        f"{kind.name.title()}Reading", fields, forbid_unknown_fields=True, gc=False
    )
    many = msgspec.defstruct(
        f"{kind.name.title()}Batch",
        [("readings", list[one])],  # type: ignore[valid-type]
        forbid_unknown_fields=True,
    )
    return WireDecoder(kind.name, msgspec.json.Decoder(one), msgspec.json.Decoder(many))


def wire_decoders(kinds: Mapping[str, DeviceKind]) -> dict[str, WireDecoder]:
    """A WireDecoder for every kind its Structs can express."""
    out = {}
    for name, kind in kinds.items():
        decoder = wire_decoder(kind)
        if decoder is not None:
            out[name] = decoder
    return out
