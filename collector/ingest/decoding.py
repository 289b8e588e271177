"""Payload decoders: bytes of one MQTT message in, valid readings and per-reading rejects out.

A decoder is chosen by name from DECODERS; the collector core only sees DecodeResult.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeGuard

import orjson
from pydantic import ValidationError

from collector.ingest.decoded import (
    DecodeLimits,
    Decoder,
    DecodeResult,
    DecoderSettings,
    Reject,
    validation_reason,
)
from collector.ingest.device_table import Device, DeviceTable
from collector.ingest.gateway import GatewayDecoder
from collector.ingest.readings import Reading
from collector.ingest.senml import SENML_SAMPLE, SenmlDecoder, SenmlDecoderSettings
from collector.ingest.venus import VENUS_SAMPLE, VenusDecoderSettings, make_venus
from collector.ingest.wire_structs import WireDecoder, wire_decoders
from collector.plugin_settings import validate_chosen
from devices.catalogue import KINDS
from devices.stations import Fleet
from devices.topics import READING_CHANNELS, Channel, Topic

_INF = float("inf")
_SEQ_MAX = 2**63 - 1
# Epoch seconds beyond this (year 5138) are a device sending milliseconds (or finer).
_EPOCH_S_MAX = 1e11
# RFC 3339 date-time (section 5.6, with its note's space separator), nothing else of ISO 8601.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _refused(reason: str, detail: str) -> DecodeResult:
    """The result of a message refused as a whole."""
    return DecodeResult(rejects=[Reject(reason, detail)])


class _Flagged(dict[str, Any]):
    """An object of the careful parse that its reading cannot be: a key twice or a number inf."""

    __slots__ = ("problem",)

    def __init__(self, pairs: dict[str, Any], problem: tuple[str, str]) -> None:
        super().__init__(pairs)
        self.problem = problem


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The careful parse's object hook: a plain dict, or a _Flagged one naming its problem."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        return _Flagged(obj, ("duplicate_field", f"field {twice[:64]!r} appears more than once"))
    for key, value in pairs:
        if type(value) is float and value in (_INF, -_INF):
            return _Flagged(obj, ("not_finite", f"{key[:64]}: number beyond the float range"))
    return obj


def _int(text: str) -> int | float:
    """An integer literal as orjson reads it: 64-bit range an int, beyond that a float."""
    if len(text) <= 21:
        value = int(text)
        if -(2**63) <= value <= 2**64 - 1:
            return value
    return float(text)  # inf when it overflows: flagged as not finite by _object


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _careful_parse(payload: bytes) -> Any:
    """The payload parsed keeping what orjson loses: repeated keys, numbers beyond a double."""
    # Raises ValueError (JSON, UTF-8) or RecursionError (depth) as orjson's parse would fail.
    doc = json.loads(
        payload.decode("utf-8"),
        object_pairs_hook=_object,
        parse_int=_int,
        parse_constant=_no_constant,
    )
    if b"\\u" in payload and _lone_surrogate(doc):  # orjson refuses "\ud800" wherever it is
        raise ValueError("a string holds a lone surrogate escape")
    return doc


def _lone_surrogate(doc: Any) -> bool:
    """Whether any string (key or value) in the document is not encodable as UTF-8."""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    return True
        elif isinstance(value, dict):
            stack += value.keys()
            stack += value.values()
        elif isinstance(value, list):
            stack += value
    return False


def _usable_seq(seq: Any) -> TypeGuard[int]:
    """An unsigned 63-bit integer."""
    return type(seq) is int and 0 <= seq <= _SEQ_MAX


def _parse_refusal(exc: Exception) -> DecodeResult:
    """The whole-message refusal for a payload that does not parse."""
    text = str(exc).lower()
    reason = "not_utf8" if "utf-8" in text else "malformed_json"  # UnicodeDecodeError's too
    # Nesting is bounded by the parser's own depth limit; anything nested inside a
    # reading is a wrong type for its field, so no walk of the document is needed.
    if isinstance(exc, RecursionError) or "recursion" in text or "depth limit" in text:
        reason = "too_deep"
    return _refused(reason, str(exc)[:200])


class JsonDecoder:
    """The wire format of design §3: one reading object, or {"readings": [...]}."""

    def __init__(self, limits: DecodeLimits, fleet: Fleet, structs: bool = True) -> None:
        """`structs`: the kinds' msgspec Structs take what they vouch for first (False: the
        general path alone, for comparison)."""
        self.limits = limits
        self.fleet = fleet
        self._table = DeviceTable(fleet)
        # the table's own dict and lookup: the hot path skips a method call per message
        self._devices = self._table.entries
        self._look_up_device = self._table.look_up
        self._wire = wire_decoders(KINDS) if structs else {}
        self._lines = limits.lines

    def decode(
        self, topic: Topic, payload: bytes, received_ms: int, now_ms: int, careful: bool = False
    ) -> DecodeResult:
        """Decode; `careful` takes the duplicate-aware parse whatever the cheap check says."""
        key = (topic.kind, topic.station, topic.device)
        entry = self._devices.get(key) or self._look_up_device(key)
        if entry is None:
            return _refused("unknown_kind", f"kind {topic.kind[:64]!r} is not in the catalogue")
        limits = self.limits
        if len(payload) > limits.max_payload_bytes:
            return _refused("oversized", f"{len(payload)} bytes > {limits.max_payload_bytes}")
        if not careful:
            wire = self._wire.get(entry[0].name)
            if wire is not None:
                result = self._vouched(topic, entry, wire, payload, received_ms, now_ms)
                if result is not None:
                    return result
            try:
                doc = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                # 1e400: orjson refuses the whole message; the careful parse refuses that reading
                if "infinity" not in str(exc):
                    return _parse_refusal(exc)
            else:
                # Every key in the text is followed by a colon: when the parsed readings hold as
                # many keys as the text has colons (less those inside the strings read), no key
                # was there twice and orjson's last-one-wins lost nothing.
                result = self._readings(topic, entry, doc, received_ms, now_ms, payload.count(b":"))
                if result is not None:
                    return result
        try:
            doc = _careful_parse(payload)
        except (ValueError, RecursionError) as exc:
            return _parse_refusal(exc)
        result = self._readings(topic, entry, doc, received_ms, now_ms, None)
        assert result is not None
        return result

    def _vouched(
        self,
        topic: Topic,
        entry: Device,
        wire: WireDecoder,
        payload: bytes,
        received_ms: int,
        now_ms: int,
    ) -> DecodeResult | None:
        """The readings when the kind's Structs accept the message and nothing in it is refused;
        None sends it to the general path, which names what is wrong."""
        decoded = wire.decode(payload)
        if decoded is None:
            return None
        items, batch = decoded
        if len(items) > self.limits.max_readings:
            return None
        kind, district, series = entry
        if not self._lines:
            series = None  # no line: Reading.to_line would build it, and is not called
        text_of = kind.formatter
        name, station, device = kind.name, topic.station, topic.device
        readings: list[Reading] = []
        seqs: list[int] = []
        newest = -1
        seen_keys = int(batch)  # the colon count's check for a repeated key, as in _readings
        earliest, latest = self.limits.min_ts_ms, now_ms + self.limits.max_future_ms
        for values in items:
            seen_keys += len(values)
            ts_raw = values.pop("ts", None)
            seq = values.pop("seq", None)
            if not values:
                return None  # no field: a refusal
            if seq is not None:
                seqs.append(seq)
            if ts_raw.__class__ is str:
                seen_keys += ts_raw.count(":")
            if ts_raw.__class__ is float and -1e15 < ts_raw < 1e11:  # as _timestamp, inline
                ts_ms = round(ts_raw * 1000)
                if not earliest <= ts_ms <= latest:
                    return None
            else:
                ts_ms, ts_problem = self._timestamp(ts_raw, received_ms, now_ms)
                if ts_problem is not None:
                    return None
            if ts_raw is not None and ts_ms > newest:
                newest = ts_ms
            line = None if series is None else f"{series} {text_of(values)} {ts_ms}"
            readings.append(Reading(station, district, name, device, ts_ms, seq, values, line))
        if seen_keys != payload.count(b":"):
            return None
        rejects: list[Reject] = []
        if batch and len(readings) > 1 and len({r.ts_ms for r in readings}) < len(readings):
            readings = _first_per_timestamp(readings, rejects)
        return DecodeResult(readings, rejects, batch, seqs, newest)

    def _readings(
        self,
        topic: Topic,
        entry: Device,
        doc: Any,
        received_ms: int,
        now_ms: int,
        colons: int | None,
    ) -> DecodeResult | None:
        """The readings of a parsed message; None when `colons` says a key may be repeated."""
        kind, district, series = entry
        if not self._lines:
            series = None  # no line: Reading.to_line would build it, and is not called
        limits = self.limits
        if not isinstance(doc, dict):
            return _refused("bad_structure", "payload is not a JSON object")
        batch = "readings" in doc
        if batch:
            items = doc["readings"]
            if set(doc) != {"readings"} or not isinstance(items, list):
                return _refused("bad_structure", 'a batch is {"readings": [...]} only')
            if len(items) > limits.max_readings:
                return _refused("too_many_readings", f"{len(items)} > {limits.max_readings}")
            if isinstance(doc, _Flagged):
                return _refused(*doc.problem)
            seen_keys = 1
        else:
            items = [doc]
            seen_keys = 0

        fields_of, text_of = kind.fields, kind.fields_text
        name, station, device = kind.name, topic.station, topic.device
        readings: list[Reading] = []
        rejects: list[Reject] = []
        seqs: list[int] = []
        newest = -1
        for index, item in enumerate(items):
            if type(item) is not dict:
                if isinstance(item, _Flagged):  # the careful parse only
                    seq = item.get("seq")  # refused, not missing: not a gap
                    if _usable_seq(seq):
                        seqs.append(seq)
                    rejects.append(Reject(*item.problem, index))
                else:
                    rejects.append(Reject("bad_structure", "a reading must be an object", index))
                continue
            seen_keys += len(item)
            values = item  # parsed just above and ours alone: no copy needed to pop from it
            ts_raw = values.pop("ts", None)
            seq = values.pop("seq", None)
            if seq is not None and (type(seq) is not int or seq < 0 or seq > 2**63 - 1):
                rejects.append(Reject("bad_seq", "seq must be an unsigned integer", index))
                continue
            if seq is not None:
                seqs.append(seq)
            if ts_raw.__class__ is str:
                seen_keys += ts_raw.count(":")
            ts_ms, ts_problem = self._timestamp(ts_raw, received_ms, now_ms)
            if ts_raw is not None and ts_ms > newest and (ts_problem is None or ts_ms != 0):
                newest = ts_ms
            if ts_problem is not None:
                rejects.append(Reject(ts_problem[0], ts_problem[1], index))
                continue
            try:
                fields = fields_of(values)
            except ValidationError as exc:
                reason, detail = validation_reason(exc)
                rejects.append(Reject(reason, detail, index))
                continue
            line = None if series is None else f"{series} {text_of(fields)} {ts_ms}"
            readings.append(Reading(station, district, name, device, ts_ms, seq, fields, line))
        if colons is not None and seen_keys != colons:
            return None
        if batch and len(readings) > 1 and len({r.ts_ms for r in readings}) < len(readings):
            readings = _first_per_timestamp(readings, rejects)
        return DecodeResult(readings, rejects, batch, seqs, newest)

    def _timestamp(
        self, raw: Any, received_ms: int, now_ms: int
    ) -> tuple[int, tuple[str, str] | None]:
        if type(raw) is float and -1e15 < raw < 1e11:  # the common case (1e11: _EPOCH_S_MAX)
            ts_ms = round(raw * 1000)
        elif raw is None:
            return received_ms, None
        elif type(raw) in (int, float):
            if raw != raw or raw in (_INF, -_INF):
                return 0, ("not_finite", "ts: number is not finite")
            if raw >= _EPOCH_S_MAX:
                detail = f"ts {raw:.6g} looks like epoch milliseconds (or finer); send seconds"
                return 0, ("ts_in_future", detail)
            scaled = raw * 1000
            if scaled in (_INF, -_INF):  # e.g. 1e306 s: no int to round to
                scaled = 1e300 if raw > 0 else -1e300
            ts_ms = round(scaled)
        elif isinstance(raw, str):
            # fromisoformat alone takes week dates, basic format, a bare date or hour
            if _RFC3339.fullmatch(raw) is None:
                return 0, ("bad_timestamp", f"ts {raw[:40]!r} is not RFC 3339 with an offset")
            try:
                parsed = datetime.fromisoformat(raw.upper())
            except ValueError:
                return 0, ("bad_timestamp", f"ts {raw[:40]!r} is not a valid RFC 3339 time")
            ts_ms = round(parsed.timestamp() * 1000)
        else:
            return 0, ("bad_timestamp", "ts must be an RFC 3339 string or epoch seconds")
        # the time is returned with these two refusals: a clock far off is still a clock
        if ts_ms > now_ms + self.limits.max_future_ms:
            return ts_ms, ("ts_in_future", f"ts {ts_ms} ms is ahead of the collector clock")
        if ts_ms < self.limits.min_ts_ms:
            return ts_ms, ("ts_before_plausible", f"ts {ts_ms} ms is before the plausible start")
        return ts_ms, None


def _first_per_timestamp(readings: list[Reading], rejects: list[Reject]) -> list[Reading]:
    """The first reading of each timestamp; the repeats join `rejects` (one point per ts)."""
    refused = {r.index for r in rejects}
    indexes = (i for i in range(len(readings) + len(refused)) if i not in refused)
    first: dict[int, int] = {}
    kept: list[Reading] = []
    for index, reading in zip(indexes, readings, strict=False):
        was = first.setdefault(reading.ts_ms, index)
        if was == index:
            kept.append(reading)
        else:
            detail = f"ts {reading.ts_ms} ms repeats reading {was}'s: one point per device and time"
            rejects.append(Reject("duplicate_timestamp", detail, index))
    return kept


class JsonDecoderSettings(DecoderSettings):
    """The JSON wire format of design §3; its limits are the `ingest:` ones every decoder obeys."""

    type: Literal["json"] = "json"


JSON_SAMPLE = """\
ingest:
  decoder:
    type: json             # or just `decoder: json`
"""

DecoderFactory = Callable[[Any, DecodeLimits, Fleet], Decoder]
GatewayFactory = Callable[[Any, DecodeLimits, Fleet], GatewayDecoder]


@dataclass(frozen=True)
class DecoderPlugin:
    """One payload decoder: its settings model, its factory, a sample config block, its channel.

    A gateway decoder (`gateway` set) reads a gateway's own topic scheme; it is listed
    under `ingest.gateways` and has no telemetry factory."""

    name: str
    settings: type[DecoderSettings]
    factory: DecoderFactory | None
    sample: str
    channel: Channel = "telemetry"  # the topic channel whose payloads it decodes
    gateway: GatewayFactory | None = None


def _make_json(settings: JsonDecoderSettings, limits: DecodeLimits, fleet: Fleet) -> Decoder:
    return JsonDecoder(limits, fleet)


def _make_senml(settings: SenmlDecoderSettings, limits: DecodeLimits, fleet: Fleet) -> Decoder:
    return SenmlDecoder(limits, fleet)


def _make_venus(
    settings: VenusDecoderSettings, limits: DecodeLimits, fleet: Fleet
) -> GatewayDecoder:
    return make_venus(settings, limits.max_payload_bytes, fleet)


# One line per decoder; the `ingest.decoder` and `ingest.gateways` values come from it.
DECODERS: dict[str, DecoderPlugin] = {
    p.name: p
    for p in (
        DecoderPlugin("json", JsonDecoderSettings, _make_json, JSON_SAMPLE),
        DecoderPlugin("senml", SenmlDecoderSettings, _make_senml, SENML_SAMPLE, "senml"),
        DecoderPlugin("venus", VenusDecoderSettings, None, VENUS_SAMPLE, gateway=_make_venus),
    )
}
DEFAULT_DECODER = "json"
DEFAULT_GATEWAYS = ("venus",)  # each subscribes to nothing until the fleet names its gateways


def parse_decoder_settings(values: Any) -> DecoderSettings:
    """`ingest.decoder` (a name, or a mapping with `type`) validated by that decoder's model."""
    if isinstance(values, DecoderSettings):
        return values
    if isinstance(values, str):
        values = {"type": values}
    if not isinstance(values, dict):
        raise ValueError("must be a decoder name or a mapping with a type")
    chosen = validate_chosen(DECODERS, "type", values, DEFAULT_DECODER, "decoder", "decoder")
    if DECODERS[chosen.type].factory is None:
        raise ValueError(
            f"decoder {chosen.type!r} reads a gateway's own topics: list it under ingest.gateways"
        )
    return chosen


def parse_gateway_settings(values: Any) -> list[DecoderSettings]:
    """`ingest.gateways`: gateway decoders by name or mapping, each validated by its model."""
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise ValueError("must be a list of gateway decoder names or mappings with a type")
    out: list[DecoderSettings] = []
    for item in values:
        entry = {"type": item} if isinstance(item, str) else item
        if isinstance(entry, DecoderSettings):
            out.append(entry)
            continue
        if not isinstance(entry, dict):
            raise ValueError("each gateway is a decoder name or a mapping with a type")
        chosen = validate_chosen(DECODERS, "type", entry, None, "decoder", "gateway")
        if DECODERS[chosen.type].gateway is None:
            raise ValueError(f"decoder {chosen.type!r} is not a gateway decoder")
        out.append(chosen)
    names = [g.type for g in out]
    if len(set(names)) != len(names):
        raise ValueError("a gateway decoder is listed twice")
    return out


def default_gateway_settings() -> list[DecoderSettings]:
    """The shipped gateway decoders, each idle until the fleet names its gateways."""
    return parse_gateway_settings(list(DEFAULT_GATEWAYS))


def make_gateway(settings: DecoderSettings, limits: DecodeLimits, fleet: Fleet) -> GatewayDecoder:
    """The gateway decoder these settings name."""
    factory = DECODERS[settings.type].gateway
    assert factory is not None  # parse_gateway_settings admits gateway decoders only
    return factory(settings, limits, fleet)


def default_decoder_settings() -> DecoderSettings:
    """The JSON decoder's settings."""
    return parse_decoder_settings(DEFAULT_DECODER)


def make_decoder(settings: DecoderSettings, limits: DecodeLimits, fleet: Fleet) -> Decoder:
    """The decoder these settings name."""
    factory = DECODERS[settings.type].factory
    assert factory is not None  # parse_decoder_settings admits telemetry decoders only
    return factory(settings, limits, fleet)


def make_decoders(
    settings: DecoderSettings, limits: DecodeLimits, fleet: Fleet
) -> dict[str, Decoder]:
    """A decoder for each reading channel: the one `settings` name for its own channel, and
    for every other channel the first registered decoder of it, with its default settings."""
    chosen = DECODERS[settings.type]
    out: dict[str, Decoder] = {}
    for channel in READING_CHANNELS:
        if channel == chosen.channel:
            out[channel] = make_decoder(settings, limits, fleet)
            continue
        plugin = next(
            (p for p in DECODERS.values() if p.channel == channel and p.factory is not None),
            None,
        )
        if plugin is not None:
            out[channel] = make_decoder(parse_decoder_settings(plugin.name), limits, fleet)
    return out
