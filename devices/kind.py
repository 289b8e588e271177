"""What every device kind provides: a strict reading model and its mapping to InfluxDB fields."""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import annotated_types
from pydantic import BaseModel, ConfigDict, model_validator

from devices.fieldinfo import FieldInfo
from devices.lineprotocol import (
    PLAIN_KEY,
    PLAIN_TEXT,
    FieldsText,
    fields_text,
    plain_fields_text,
)
from devices.lineprotocol import FieldValue as FieldValue  # part of the catalogue's own API

# A compiled checker: the typed field dict, or None when it cannot vouch for the input
# (the pydantic model then decides, and names the error).
FastCheck = Callable[[dict[str, Any]], dict[str, FieldValue] | None]


class NoSizes(BaseModel):
    """The sizes of a device kind that has none worth registering."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class KindFields(BaseModel):
    """Base of a kind's reading model: strict types, no unknown fields, at least one value."""

    # strict: "12.5" or true is a wrong type, not a number; NaN/Infinity are refused too.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    @model_validator(mode="after")
    def _at_least_one(self) -> KindFields:
        if all(v is None for v in self.__dict__.values()):
            raise ValueError("a reading needs at least one field of its kind")
        return self


def field_type(model: type[KindFields], name: str) -> type[FieldValue]:
    """The InfluxDB type of a field, from its annotation: float, int or str (a Literal too)."""
    ann = model.model_fields[name].annotation
    inner = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]
    if len(inner) == 1:
        t = inner[0]
        if typing.get_origin(t) is typing.Literal and all(
            type(c) is str for c in typing.get_args(t)
        ):
            return str
        if t in (float, int, str):
            return t  # type: ignore[no-any-return]
    raise TypeError(f"{model.__name__}.{name}: a field is float, int, str or a Literal of str")


def string_choices(model: type[KindFields], name: str) -> tuple[str, ...] | None:
    """The values a Literal string field may take, or None for free text and numbers."""
    ann = model.model_fields[name].annotation
    for t in (ann, *typing.get_args(ann)):
        if typing.get_origin(t) is typing.Literal:
            return tuple(typing.get_args(t))
    return None


@dataclass(frozen=True, slots=True)
class DeviceKind:
    """A device kind: its name (topic segment and measurement), reading model and field info."""

    name: str
    model: type[KindFields]
    # How each field is shown (units, labels, dashboards); the catalogue requires every field.
    info: Mapping[str, FieldInfo] = field(default_factory=dict, compare=False)
    # What the station registry records of one device of the kind (all with defaults, so a
    # station that lists no devices gets one of each kind), and that device's usual id.
    sizes: type[BaseModel] = NoSizes
    device: str = ""
    # The kind's shipped alert rules, as a rules config block (collector/alerts/rules.py).
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)
    # Derived from the annotations, so a new int or string field cannot be forgotten here.
    int_fields: frozenset[str] = field(init=False, default=frozenset())
    str_fields: frozenset[str] = field(init=False, default=frozenset())
    _fast: FastCheck | None = field(init=False, repr=False, compare=False, default=None)
    _text: FieldsText = field(init=False, repr=False, compare=False, default=fields_text)

    def __post_init__(self) -> None:
        types_ = {n: field_type(self.model, n) for n in self.model.model_fields}
        object.__setattr__(self, "int_fields", frozenset(n for n, t in types_.items() if t is int))
        object.__setattr__(self, "str_fields", frozenset(n for n, t in types_.items() if t is str))
        object.__setattr__(self, "_fast", compile_check(self))
        object.__setattr__(self, "_text", compile_fields_text(self))
        if self.info:
            check_info(self)
        if not self.device:
            object.__setattr__(self, "device", f"{self.name}1")

    def fields_text(self, fields: Mapping[str, FieldValue]) -> str:
        """The line-protocol field set of what `fields()` returned (only that: it is trusted)."""
        return self._text(fields)

    @property
    def formatter(self) -> FieldsText:
        """`fields_text` itself, for a caller that formats many readings (a call less each)."""
        return self._text

    @property
    def compiled(self) -> bool:
        """Whether the model declares only what the compiled checker covers (see compile_check)."""
        return self._fast is not None

    @property
    def measurement(self) -> str:
        return self.name

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(self.model.model_fields)

    def validate(self, values: dict[str, Any]) -> KindFields:
        """Validate the kind's fields of one reading; raises pydantic.ValidationError."""
        return self.model.model_validate(values)

    def to_fields(self, reading: KindFields) -> dict[str, FieldValue]:
        """Map a validated reading to InfluxDB fields with the schema's types (§4)."""
        out: dict[str, FieldValue] = {}
        for name, value in reading.__dict__.items():
            if value is None:
                continue
            if name in self.str_fields:
                out[name] = str(value)
            elif name in self.int_fields:
                out[name] = int(value)
            else:
                # always a float, so an integer-looking value never creates an int field
                out[name] = float(value)
        return out

    def fields(self, values: dict[str, Any]) -> dict[str, FieldValue]:
        """`to_fields(validate(values))`, by the compiled checker when it can vouch for the input.

        Raises pydantic.ValidationError exactly as `validate` does.
        """
        fast = self._fast
        if fast is not None:
            out = fast(values)
            if out is not None:
                return out
        return self.to_fields(self.model.model_validate(values))


def bounds(model: type[KindFields], name: str) -> tuple[float | None, float | None]:
    """A field's validation bounds (ge, le); None where the model sets none."""
    lo: float | None = None
    hi: float | None = None
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, annotated_types.Ge):
            lo = float(meta.ge)  # type: ignore[arg-type]
        elif isinstance(meta, annotated_types.Le):
            hi = float(meta.le)  # type: ignore[arg-type]
    return lo, hi


def check_info(kind: DeviceKind) -> None:
    """Raise ValueError unless `kind.info` describes every field, coherently with the model."""
    names = set(kind.model.model_fields)
    missing, extra = sorted(names - set(kind.info)), sorted(set(kind.info) - names)
    if missing or extra:
        raise ValueError(f"kind {kind.name!r}: field info missing {missing}, unknown {extra}")
    for name, info in kind.info.items():
        where = f"kind {kind.name!r} field {name!r}"
        lo, hi = bounds(kind.model, name)
        if name in kind.str_fields:
            if info.low is not None or info.high is not None:
                raise ValueError(f"{where}: a string field has no display range")
        elif info.low is None or info.high is None or not info.low < info.high:
            raise ValueError(f"{where}: a number needs a display range low < high")
        elif (lo is not None and info.low < lo) or (hi is not None and info.high > hi):
            raise ValueError(f"{where}: display range beyond the validation bounds {lo}..{hi}")
        values = [v for _, v in info.steps[1:] if v is not None]
        if info.steps and (
            info.steps[0][1] is not None
            or len(values) != len(info.steps) - 1
            or values != sorted(values)
        ):
            raise ValueError(f"{where}: thresholds start at None and ascend")
        if info.chart.headline == "gauge" and info.unit != "%":
            raise ValueError(f"{where}: a gauge shows a percentage")
        choices = string_choices(kind.model, name)
        if info.colors and set(info.colors) != set(choices or ()):
            raise ValueError(f"{where}: colours for {sorted(info.colors)}, values {choices}")
        if info.chart.style == "state" and not info.colors:
            raise ValueError(f"{where}: a state chart needs a colour per value")
        partner = info.chart.with_field
        if partner is not None and (
            partner == name
            or partner not in names
            or kind.info[partner].chart.with_field is not None
            or [i.chart.with_field for i in kind.info.values()].count(partner) > 1
        ):
            raise ValueError(f"{where}: drawn with {partner!r}, not another free field")


# --- the compiled checker ---------------------------------------------------------------
_FLOAT, _INT, _STR = 0, 1, 2
_FLOAT_MAX = sys.float_info.max
# (rank in the model, type code, lowest, highest, allowed strings or None)
_Spec = tuple[int, int, Any, Any, frozenset[str] | None]


def optional_bounded(kind: DeviceKind, name: str) -> tuple[Any, Any, Any] | None:
    """(type, ge, le) of a field declared `X | None` with at most ge/le; None if it is more."""
    info = kind.model.model_fields[name]
    if info.default is not None or info.alias is not None or info.validation_alias is not None:
        return None
    args = typing.get_args(info.annotation)
    if typing.get_origin(info.annotation) not in (typing.Union, types.UnionType):
        return None
    inner = [a for a in args if a is not type(None)]
    if len(inner) != 1 or len(args) != 2:
        return None
    lo: Any = None
    hi: Any = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge) and lo is None:
            lo = meta.ge
        elif isinstance(meta, annotated_types.Le) and hi is None:
            hi = meta.le
        else:
            return None
    return inner[0], lo, hi


def _field_spec(kind: DeviceKind, rank: int, name: str) -> _Spec | None:
    """How to check one field, or None when its declaration is beyond the compiled checker."""
    declared = optional_bounded(kind, name)
    if declared is None:
        return None
    ann, lo, hi = declared
    if ann is float and name not in kind.int_fields | kind.str_fields:
        # the float bounds also refuse NaN (no comparison holds) and +-inf (beyond the max)
        lo = -_FLOAT_MAX if lo is None else max(float(lo), -_FLOAT_MAX)
        hi = _FLOAT_MAX if hi is None else min(float(hi), _FLOAT_MAX)
        return rank, _FLOAT, lo, hi, None
    if ann is int and name in kind.int_fields:
        lo = -float("inf") if lo is None else lo
        hi = float("inf") if hi is None else hi
        return rank, _INT, lo, hi, None
    if typing.get_origin(ann) is typing.Literal and name in kind.str_fields and lo is hi is None:
        choices = typing.get_args(ann)
        if all(type(c) is str for c in choices):
            return rank, _STR, None, None, frozenset(choices)
    return None


def compile_fields_text(kind: DeviceKind) -> FieldsText:
    """orjson's formatter when the checker's output is always plain, else the general one."""
    if kind._fast is None:
        return fields_text
    for rank, name in enumerate(kind.model.model_fields):
        spec = _field_spec(kind, rank, name)
        if spec is None or not PLAIN_KEY.fullmatch(name) or name == "time":
            return fields_text
        choices = spec[4]
        if choices is not None and not all(PLAIN_TEXT.fullmatch(c) for c in choices):
            return fields_text
    strings = {n: string_choices(kind.model, n) or () for n in kind.str_fields}
    return plain_fields_text(kind.int_fields, strings)


def compile_check(kind: DeviceKind) -> FastCheck | None:
    """A plain-Python checker with the model's semantics, or None when the model needs pydantic.

    Covers what the kinds declare: optional float fields (int or float, finite, ge/le),
    optional int fields (int only, ge/le) and optional Literal string fields, with extra
    fields forbidden and at least one value required. Anything else in a model (other
    constraints, validators, defaults, aliases) leaves the kind on pydantic alone.
    """
    model = kind.model
    decorators = model.__pydantic_decorators__
    base = KindFields.__pydantic_decorators__.model_validators["_at_least_one"]
    own = [d for d in decorators.model_validators.values() if d.func is not base.func]
    if (
        own
        or decorators.field_validators
        or decorators.validators
        or decorators.root_validators
        or model.model_config.get("extra") != "forbid"
        or model.model_config.get("strict") is not True
        or model.model_config.get("allow_inf_nan") is not False
    ):
        return None
    floats: dict[str, tuple[int, float, float]] = {}  # most fields: (rank, lowest, highest)
    others: dict[str, _Spec] = {}
    for rank, name in enumerate(model.model_fields):
        spec = _field_spec(kind, rank, name)
        if spec is None:
            return None
        if spec[1] == _FLOAT:
            floats[name] = (rank, spec[2], spec[3])
        else:
            others[name] = spec
    order = tuple(model.model_fields)
    float_bounds = floats.get
    other_spec = others.get

    def check(values: dict[str, Any]) -> dict[str, FieldValue] | None:
        out: dict[str, FieldValue] = {}
        last = -1
        in_order = True
        for name, v in values.items():
            # float fields (most of them) from their own table: one lookup, a 3-tuple to unpack
            bounds = float_bounds(name)
            if bounds is not None:
                rank, lo, hi = bounds
                t = type(v)
                if t is float or t is int:  # not bool: strict
                    if not lo <= v <= hi:
                        return None
                    if t is int:
                        v = float(v)
                elif v is None:
                    continue
                else:
                    return None
            else:
                spec = other_spec(name)
                if spec is None:
                    return None  # unknown field (or a key that is not a string)
                if v is None:
                    continue
                rank, code, lo, hi, choices = spec
                t = type(v)
                if code == _INT:
                    if t is not int or not lo <= v <= hi:
                        return None
                elif t is not str or v not in choices:  # type: ignore[operator]
                    return None
            if rank < last:
                in_order = False
            last = rank
            out[name] = v
        if not out:
            return None
        if not in_order:  # the model's field order, as `to_fields` gives it
            out = {n: out[n] for n in order if n in out}
        return out

    return check
