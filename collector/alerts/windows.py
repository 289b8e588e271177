"""Maintenance windows: one-off (start, end) or weekly (days, from, to in the alerts timezone).

During a window the notifications of its station (of its rules, if given) are held back, as
a silence holds them; the alerts themselves are still recorded.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from devices.topics import ID_RE

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WindowSettings(BaseModel):
    """One maintenance window (config `alerts.maintenance` or POST /windows)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    station: str = Field(pattern=ID_RE.pattern)
    rules: tuple[str, ...] = ()
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    days: tuple[Day, ...] = ()
    from_: time | None = Field(None, alias="from")
    to: time | None = None
    comment: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _one_kind(self) -> WindowSettings:
        once = self.start is not None or self.end is not None
        weekly = bool(self.days) or self.from_ is not None or self.to is not None
        if once == weekly:
            raise ValueError("give start and end (one-off) or days, from and to (weekly)")
        if once and (self.start is None or self.end is None or self.end <= self.start):
            raise ValueError("a one-off window needs start and end, end after start")
        if weekly and (not self.days or self.from_ is None or self.to is None):
            raise ValueError("a weekly window needs days, from and to (e.g. 06:00, 10:00)")
        if weekly and self.from_ == self.to:
            raise ValueError("a weekly window's from and to must differ")
        return self

    @property
    def weekly(self) -> bool:
        return bool(self.days)


class MaintenanceWindow:
    """A window that answers whether it holds a station's rule at an instant."""

    def __init__(self, s: WindowSettings, tz: ZoneInfo, id: int | None = None) -> None:
        self.s = s
        self.tz = tz
        self.id = id  # None: from the config file (not removable through the API)
        self._rules = frozenset(s.rules)
        self._days = frozenset(DAYS.index(d) for d in s.days)

    def matches(self, station: str, rule: str, now_ms: int) -> bool:
        if station != self.s.station or (self._rules and rule not in self._rules):
            return False
        return self.open_at(now_ms)

    def open_at(self, now_ms: int) -> bool:
        s = self.s
        if not s.weekly:
            assert s.start is not None and s.end is not None
            return s.start.timestamp() * 1000 <= now_ms < s.end.timestamp() * 1000
        assert s.from_ is not None and s.to is not None
        local = datetime.fromtimestamp(now_ms / 1000, self.tz)
        t = local.time().replace(tzinfo=None)
        if s.from_ < s.to:
            return local.weekday() in self._days and s.from_ <= t < s.to
        # past midnight: the window belongs to the day it starts on
        if t >= s.from_:
            return local.weekday() in self._days
        yesterday = (local - timedelta(days=1)).weekday()
        return t < s.to and yesterday in self._days

    def ended(self, now_ms: int) -> bool:
        return (
            not self.s.weekly and self.s.end is not None and self.s.end.timestamp() * 1000 <= now_ms
        )
