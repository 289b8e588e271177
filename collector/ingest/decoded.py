"""What a decoder hands back: readings, refusals with reasons, and the limits it obeys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.ingest.readings import Reading
from devices.topics import Topic


@dataclass(frozen=True, slots=True)
class Reject:
    """Why one reading (index >= 0) or the whole message (index -1) was refused."""

    reason: str
    detail: str
    index: int = -1


@dataclass(slots=True)
class DecodeResult:
    """What one telemetry message held."""

    readings: list[Reading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    batch: bool = False
    # every usable seq in message order, refused readings' too: a refused reading is not a gap
    seqs: list[int] = field(default_factory=list)
    # the newest time the device's own clock gave in the message (refused readings' too, when
    # their time was read), for the clock-offset estimate; -1: none (no `ts`, or not known)
    device_ts_ms: int = -1


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """The limits a decoder enforces (from IngestSettings), and whether it formats points."""

    max_payload_bytes: int
    max_readings: int
    max_future_ms: int
    min_ts_ms: int
    # False where nothing is written (the alert engine's own copy of the stream): each
    # reading's line is left to Reading.to_line, which is then never called (~1 us a reading)
    lines: bool = True


class Decoder(Protocol):
    """Turns one telemetry payload into readings."""

    def decode(self, topic: Topic, payload: bytes, received_ms: int, now_ms: int) -> DecodeResult:
        """Decode; never raises for bad input."""
        ...


def validation_reason(exc: ValidationError) -> tuple[str, str]:
    """The reason label and a short detail for a reading the kind's model refused."""
    err = exc.errors()[0]
    kind = err["type"]
    where = ".".join(str(x) for x in err["loc"])
    if kind == "extra_forbidden":
        reason = "unknown_field"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        reason = "out_of_range"
    elif kind == "finite_number":
        reason = "not_finite"
    elif kind == "value_error":
        reason = "no_fields"
    else:
        reason = "wrong_type"
    return reason, f"{where}: {err['msg']}"[:300]


class DecoderSettings(BaseModel):
    """What every `ingest.decoder` has; a decoder's model adds its own settings."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        description="Payload decoder by name, for its channel; every other reading channel"
        " keeps its own (telemetry: `json`, senml: `senml`)"
    )
