"""Alert rules in config: thresholds with hysteresis, silence, overrides; the shipped defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from collector.alerts.condition import Condition, ConditionError, parse_condition
from collector.alerts.durations import Duration
from devices.catalogue import RULE_KINDS as KINDS
from devices.stations import Chemistry, Station

Severity = Literal["warning", "critical"]
RULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
SILENCE_RULE = "station_silent"
CLOCK_SKEW_RULE = "device_clock_skew"

# The shipped rules (README "Alert rules"): names are part of the contract.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "battery_low": {
        "kind": "solar",
        "condition": "battery_soc_pct < 50",
        "clear": "battery_soc_pct > 60",
        "for": "15m",
        "severity": "warning",
    },
    "battery_critical": {
        "kind": "solar",
        "condition": "battery_soc_pct < 30 or battery_voltage_v < 23.4",
        "clear": "battery_soc_pct > 35 and battery_voltage_v > 23.8",
        "for": "5m",
        "severity": "critical",
    },
    "tank_low": {
        "kind": "tank",
        "condition": "level_pct < 20",
        "clear": "level_pct > 30",
        "for": "30m",
        "severity": "warning",
    },
    "tank_empty": {
        "kind": "tank",
        "condition": "level_pct < 5",
        "clear": "level_pct > 10",
        "for": "0s",
        "severity": "critical",
    },
    "controller_fault": {
        "kind": "solar",
        "condition": 'charge_state == "fault" or error_code != 0',
        "for": "0s",
        "severity": "critical",
    },
    # a level sensor reporting a fault of its own (a GX tank's /Status): its level is not written
    "tank_sensor_fault": {
        "kind": "tank",
        "condition": "sensor_status != 0",
        "clear": "sensor_status == 0",
        "for": "0s",
        "severity": "warning",
    },
}
# ...and the rules each kind's module ships (devices/<kind>.py, derived kinds' too), then the
# silence rule.
for _kind in KINDS.values():
    for _name, _rule in _kind.rules.items():
        if _name in DEFAULT_RULES or _name == SILENCE_RULE:
            raise ValueError(f"kind {_kind.name!r}: default rule {_name!r} is already defined")
        DEFAULT_RULES[_name] = {"kind": _kind.name, **_rule}
DEFAULT_RULES[SILENCE_RULE] = {"type": "silence", "for": "30m", "severity": "warning"}
DEFAULT_RULES[CLOCK_SKEW_RULE] = {
    "type": "clock_skew",
    "beyond": "5m",
    "for": "30m",
    "severity": "warning",
}


class RuleOverride(BaseModel):
    """What a station, district or battery chemistry changes in a rule."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    enabled: bool | None = None
    condition: str | None = None
    clear: str | None = None
    for_: Duration | None = Field(None, alias="for")
    severity: Severity | None = None
    repeat_interval: Duration | None = None


class RuleSettings(BaseModel):
    """One rule: a threshold on a kind's fields (with hysteresis and a `for`), or silence."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["threshold", "silence", "clock_skew"] = "threshold"
    kind: str | None = None
    condition: str | None = None
    clear: str | None = None
    for_: Duration = Field(0.0, alias="for")
    severity: Severity = "warning"
    enabled: bool = True
    repeat_interval: Duration | None = None
    beyond: Duration | None = Field(
        None, description="clock_skew rules: the clock offset (either way) that counts as skew"
    )
    title: dict[str, str] = Field(default_factory=dict, description="text per language")
    stations: dict[str, RuleOverride] = Field(default_factory=dict)
    districts: dict[str, RuleOverride] = Field(default_factory=dict)
    chemistries: dict[Chemistry, RuleOverride] = Field(default_factory=dict)
    # Stations with the same effective overrides share one compiled rule: with 10,000
    # stations, compiling per station cost ~30% of the CPU and ~5 KB of memory each.
    _effective: dict[tuple[object, ...], EffectiveRule] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> RuleSettings:
        if self.beyond is not None and self.type != "clock_skew":
            raise ValueError("only a clock_skew rule takes 'beyond'")
        if self.type == "clock_skew":
            if self.kind or self.condition or self.clear:
                raise ValueError("a clock_skew rule takes no kind, condition or clear")
            if self.beyond is None or self.beyond <= 0:
                raise ValueError("a clock_skew rule needs 'beyond' > 0 (the offset that is skew)")
            for label, ovs in self._overrides():
                for key, ov in ovs.items():
                    if ov.condition or ov.clear:
                        raise ValueError(f"{label}.{key}: a clock_skew rule takes no condition")
            return self
        if self.type == "silence":
            if self.kind or self.condition or self.clear:
                raise ValueError("a silence rule takes no kind, condition or clear")
            if self.for_ <= 0:
                raise ValueError("a silence rule needs 'for' > 0 (how long without telemetry)")
            for label, ovs in self._overrides():
                for key, ov in ovs.items():
                    if ov.condition or ov.clear:
                        raise ValueError(f"{label}.{key}: a silence rule takes no condition")
                    if ov.for_ is not None and ov.for_ <= 0:
                        raise ValueError(f"{label}.{key}: a silence rule needs 'for' > 0")
            return self
        if self.kind not in KINDS:
            raise ValueError(f"'kind' must be one of {', '.join(KINDS)} (got {self.kind!r})")
        if not self.condition:
            raise ValueError("a threshold rule needs a 'condition'")
        self._compile(self.condition, "condition")
        if self.clear:
            self._compile(self.clear, "clear")
        for label, ovs in self._overrides():
            for key, ov in ovs.items():
                if ov.condition:
                    self._compile(ov.condition, f"{label}.{key}.condition")
                if ov.clear:
                    self._compile(ov.clear, f"{label}.{key}.clear")
        return self

    def fields(self) -> frozenset[str]:
        """Every field its conditions name, its overrides' included."""
        sources = [self.condition, self.clear]
        sources += [
            x
            for _, ovs in self._overrides()
            for ov in ovs.values()
            for x in (ov.condition, ov.clear)
        ]
        return frozenset(f for src in sources if src for f in self._compile(src, "").fields)

    def context(self) -> frozenset[str]:
        """The context variables (condition.CONTEXT) its conditions name, overrides' included."""
        sources = [self.condition, self.clear]
        sources += [
            x
            for _, ovs in self._overrides()
            for ov in ovs.values()
            for x in (ov.condition, ov.clear)
        ]
        return frozenset(f for src in sources if src for f in self._compile(src, "").context)

    def _overrides(self) -> list[tuple[str, dict[str, RuleOverride]]]:
        chem: dict[str, RuleOverride] = {str(k): v for k, v in self.chemistries.items()}
        return [("stations", self.stations), ("districts", self.districts), ("chemistries", chem)]

    def _compile(self, source: str, where: str) -> Condition:
        assert self.kind is not None
        try:
            return parse_condition(source, self.kind)
        except ConditionError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def for_station(self, name: str, station: Station | None) -> EffectiveRule | None:
        """The rule as it applies to `station` (None: unregistered); None when disabled."""
        layers: list[RuleOverride] = []
        if station is not None:
            chemistry = station.size("battery_chemistry")
            for ov in (
                next((v for k, v in self.chemistries.items() if k == chemistry), None),
                self.districts.get(station.district),
                self.stations.get(station.id),
            ):
                if ov is not None:
                    layers.append(ov)
        enabled, cond, clear = self.enabled, self.condition, self.clear
        for_s, severity, repeat = self.for_, self.severity, self.repeat_interval
        for ov in layers:  # later layers are more specific and win
            enabled = ov.enabled if ov.enabled is not None else enabled
            if ov.condition is not None:
                # a new condition without its own clear level clears when it stops holding
                cond, clear = ov.condition, ov.clear
            elif ov.clear is not None:
                clear = ov.clear
            for_s = ov.for_ if ov.for_ is not None else for_s
            severity = ov.severity or severity
            repeat = ov.repeat_interval if ov.repeat_interval is not None else repeat
        if not enabled:
            return None
        key = (name, cond, clear, for_s, severity, repeat)
        eff = self._effective.get(key)
        if eff is None:
            condition = self._compile(cond, "condition") if cond else None
            clearing = self._compile(clear, "clear") if clear else None
            reads = sorted(
                {n for c in (condition, clearing) if c is not None for n in c.fields | c.context}
            )
            eff = self._effective[key] = EffectiveRule(
                name=name,
                kind=self.kind,
                condition=condition,
                clear=clearing,
                for_ms=int(for_s * 1000),
                severity=severity,
                repeat_s=repeat,
                reads=tuple(reads),
            )
        return eff


@dataclass(frozen=True, slots=True)
class EffectiveRule:
    """A rule compiled for one station, with its overrides applied."""

    name: str
    kind: str | None  # None for the silence rule
    condition: Condition | None
    clear: Condition | None
    for_ms: int
    severity: Severity
    repeat_s: float | None
    # what a state keeps of a reading for its messages: the fields (and context) its
    # conditions read, not the whole reading (10,000 stations' readings were ~5 MB)
    reads: tuple[str, ...] = ()


def fields_by_kind(rules: Mapping[str, RuleSettings]) -> dict[str, frozenset[str]]:
    """What alerting reads of each kind's readings (a kind no rule reads: nothing)."""
    out: dict[str, frozenset[str]] = {}
    for rs in rules.values():
        if rs.type == "threshold" and rs.kind is not None:
            out[rs.kind] = out.get(rs.kind, frozenset()) | rs.fields()
    return out


def merge_rules(raw: object) -> dict[str, Any]:
    """User rules laid over the defaults, key by key: a default rule is changed or disabled,
    never lost by naming another rule."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError("'rules' must be a mapping of rule name to rule")
    merged: dict[str, Any] = {k: dict(v) for k, v in DEFAULT_RULES.items()}
    for name, body in raw.items():
        if not isinstance(name, str) or not RULE_NAME.fullmatch(name):
            raise ValueError(f"rule name {name!r} must match [a-z][a-z0-9_]{{0,63}}")
        if isinstance(body, RuleSettings):
            merged[name] = body
        elif isinstance(body, dict):
            base = merged.get(name, {})
            merged[name] = {**base, **body} if isinstance(base, dict) else body
        else:
            raise ValueError(f"rule {name!r} must be a mapping")
    return merged
