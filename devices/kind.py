"""What every device kind provides: a strict reading model and its mapping to InfluxDB fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

FieldValue = float | int | str


class KindFields(BaseModel):
    """Base of a kind's reading model: strict types, no unknown fields, at least one value."""

    # strict: "12.5" or true is a wrong type, not a number; NaN/Infinity are refused too.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    @model_validator(mode="after")
    def _at_least_one(self) -> KindFields:
        if all(v is None for v in self.__dict__.values()):
            raise ValueError("a reading needs at least one field of its kind")
        return self


@dataclass(frozen=True, slots=True)
class DeviceKind:
    """A device kind: its name (topic segment and measurement) and reading model."""

    name: str
    model: type[KindFields]
    int_fields: frozenset[str] = frozenset()
    str_fields: frozenset[str] = frozenset()

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
