"""Alert configuration (the collector's `alerts:` section), validated in full at start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    field_validator,
    model_validator,
)

from collector.alerts.digest import DIGEST_RULE
from collector.alerts.durations import Duration
from collector.alerts.notifiers import NotifierSettings, parse_notifier_settings
from collector.alerts.rules import RuleSettings, merge_rules
from collector.alerts.technicians import TechnicianSettings
from collector.alerts.templates import LANGUAGES, check_templates
from collector.alerts.windows import WindowSettings
from collector.auth_limit import FailureLimitSettings
from collector.plugin_settings import PluginSettingsError
from collector.secrets import load_secret, token_weakness

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")


class Recipients(BaseModel):
    """Who a route reaches: emails for `email`, phone numbers for the webhook/SMS payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for e in v:
            if not _EMAIL.match(e):
                raise ValueError(f"{e!r} is not an email address")
        return v

    @field_validator("phones")
    @classmethod
    def _phones(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for p in v:
            q = re.sub(r"[\s\-()]", "", p)
            if not _PHONE.match(q):
                raise ValueError(
                    f"{p!r} is not a phone number (international form, e.g. +25884...)"
                )
            out.append(q)
        return tuple(out)


class RouteSettings(BaseModel):
    """The technicians of some districts (or stations), the notifiers that reach them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    districts: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    severities: tuple[Literal["warning", "critical"], ...] = Field(
        ("warning", "critical"),
        min_length=1,
        description="the severities it takes; the others fall through to later routes/fallback",
    )
    notifiers: tuple[str, ...] = Field(min_length=1)
    recipients: Recipients = Recipients()


class FallbackRoute(BaseModel):
    """For districts no route names and for unregistered stations."""

    model_config = ConfigDict(extra="forbid")

    notifiers: tuple[str, ...] = ()
    recipients: Recipients = Recipients()
    severities: tuple[Literal["warning", "critical"], ...] = ("warning", "critical")


class SmsReplyLimitSettings(FailureLimitSettings):
    """`alerts.sms_reply_limit`: failed `OK <id>` replies per sender number (a stolen SIM)."""

    enabled: bool = Field(True, description="Limit failed SMS acknowledgements per sender")
    global_failures: int = Field(
        100, ge=1, le=1_000_000,
        description="Failed replies from all senders within `window` that lock every sender out",
    )  # fmt: skip
    max_senders: int = Field(
        1000, ge=1, le=1_000_000, description="Sender numbers tracked; the least recent goes"
    )


class AlertSettings(BaseModel):
    """The `alerts:` section of the collector's settings."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    language: str = "pt"
    timezone: str = "Africa/Maputo"
    templates: dict[str, str] = Field(
        default_factory=dict, description="override texts of the language: firing/reminder/resolved"
    )
    evaluate_interval_s: float = Field(10.0, gt=0, le=3600)
    state_interval_s: float = Field(
        60.0, gt=0, le=3600, description="how often each station's state is written for dashboards"
    )
    repeat_interval: Duration = 4 * 3600.0
    stale_after: Duration = 3600.0
    queue_size: int = Field(
        1000, ge=1, le=1_000_000, description="notifications queued per notifier, all stations"
    )
    station_queue_size: int = Field(
        50, ge=1, le=100_000, description="notifications queued per notifier for one station"
    )
    min_page_interval: Duration = Field(
        300.0, description="per station and rule: changes inside it are recorded, not paged"
    )
    page_budget: int = Field(10, ge=1, le=100_000, description="pages per station per window")
    page_budget_window: Duration = Field(3600.0, gt=0, description="the budget's window")
    group_wait: Duration = Field(
        120.0, description="fleet time a grouped rule's first notification waits for others"
    )
    group_interval: Duration = Field(
        300.0, description="fleet time between two notifications of one group"
    )
    group_rules: tuple[str, ...] = Field(
        ("station_silent", "alert_digest"),
        description="rules whose notifications a route gets grouped (alert_digest: the digests)",
    )
    max_devices_per_station: int = Field(
        64, ge=1, le=100_000, description="devices a station's readings are evaluated for"
    )
    max_alerts_per_station: int = Field(
        100, ge=1, le=100_000, description="active alerts kept per station; more are refused"
    )
    max_paging_stations: int = Field(
        1000, ge=1, le=1_000_000, description="unregistered stations tracked for paging limits"
    )
    drain_timeout_s: float = Field(5.0, ge=0, le=300)
    history_keep: Duration = 90 * 86400.0
    api_token: SecretStr | None = None
    api_token_file: Path | None = None
    public_url: str | None = Field(
        None, description="base URL of the collector as phones reach it; pages carry links to it"
    )
    link_secret: SecretStr | None = Field(
        None, description="HMAC key of the links (default: made once, 0600, in the data folder)"
    )
    link_secret_file: Path | None = None
    link_ttl: Duration = Field(7 * 86400.0, gt=0, description="how long a page's link works")
    technicians: tuple[TechnicianSettings, ...] = ()
    technicians_file: Path | None = Field(
        None,
        description="technicians with hashed tokens (python -m collector.alerts.technician_tokens)",
    )
    maintenance: tuple[WindowSettings, ...] = ()
    sms_reply_limit: SmsReplyLimitSettings = Field(
        default_factory=SmsReplyLimitSettings,
        description="failed OK <id> SMS replies per sender number",
    )
    rules: dict[str, RuleSettings] = Field(default_factory=lambda: _default_rules())
    notifiers: dict[str, SerializeAsAny[NotifierSettings]] = Field(default_factory=dict)
    routes: tuple[RouteSettings, ...] = ()
    fallback: FallbackRoute = FallbackRoute()

    @field_validator("notifiers", mode="before")
    @classmethod
    def _plugins(cls, v: Any) -> dict[str, NotifierSettings]:
        # each entry by its own plugin's model, from the registry
        if not isinstance(v, dict):
            raise ValueError("notifiers must map names to notifier settings")
        out: dict[str, NotifierSettings] = {}
        for name, values in v.items():
            try:
                out[name] = parse_notifier_settings(values)
            except PluginSettingsError as exc:
                problems = [((name, *loc), msg) for loc, msg in exc.problems]
                raise PluginSettingsError(exc.plugin, problems) from None
        return out

    @field_validator("rules", mode="before")
    @classmethod
    def _merge_defaults(cls, v: Any) -> dict[str, Any]:
        return merge_rules(v)

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        if v not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)} (got {v!r})")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _check(self) -> AlertSettings:
        self.api_token = load_secret(self.api_token, self.api_token_file, "api_token")
        self.api_token_file = None
        weakness = token_weakness(self.api_token.get_secret_value()) if self.api_token else None
        if weakness:
            # a guessable token guards fleet-wide silences: refuse it rather than warn
            raise ValueError(
                f"api_token {weakness}; generate one with: openssl rand -hex 24"
                " (SOLARWATER_ALERTS__API_TOKEN or alerts.api_token_file)"
            )
        self.link_secret = load_secret(self.link_secret, self.link_secret_file, "link_secret")
        self.link_secret_file = None
        if self.link_secret is not None and len(self.link_secret.get_secret_value()) < 24:
            raise ValueError("link_secret: use at least 24 characters (openssl rand -hex 24)")
        if self.public_url is not None and not re.match(r"^https?://[^\s/]+", self.public_url):
            raise ValueError(f"public_url {self.public_url!r} must be http:// or https://")
        check_templates(self.language, self.templates)
        names = [r.name for r in self.routes]
        for dup in {n for n in names if names.count(n) > 1}:
            raise ValueError(f"route name {dup!r} appears twice")
        for where, used, recipients in [
            *((f"route {r.name!r}", r.notifiers, r.recipients) for r in self.routes),
            ("fallback", self.fallback.notifiers, self.fallback.recipients),
        ]:
            for n in used:
                if n not in self.notifiers:
                    known = ", ".join(self.notifiers) or "none configured"
                    raise ValueError(f"{where}: unknown notifier {n!r} (notifiers: {known})")
                if self.notifiers[n].needs_emails and not recipients.emails:
                    raise ValueError(
                        f"{where}: notifier {n!r} sends email but no emails are listed"
                    )
                if self.notifiers[n].needs_phones() and not recipients.phones:
                    raise ValueError(f"{where}: notifier {n!r} sends SMS but no phones are listed")
        for r in self.routes:
            if not r.districts and not r.stations:
                raise ValueError(f"route {r.name!r}: list its districts and/or stations")
        for name in self.group_rules:
            if name not in self.rules and name != DIGEST_RULE:
                raise ValueError(
                    f"group_rules: unknown rule {name!r} (rules: {', '.join(self.rules)},"
                    f" {DIGEST_RULE})"
                )
        return self


def _default_rules() -> dict[str, RuleSettings]:
    return {k: RuleSettings.model_validate(v) for k, v in merge_rules({}).items()}
