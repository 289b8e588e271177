"""Webhook notifier: one JSON POST per notification, or an SMS gateway's form by preset.

Presets: `twilio` (POST .../Accounts/{account_sid}/Messages.json, Basic auth, form fields
To/From/Body, one request per phone) and `africastalking` (POST form username/to/message/from,
`apiKey` header, all phones in one request).
"""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any, Literal

import aiohttp
import orjson
from pydantic import ConfigDict, Field, SecretStr, model_validator

from collector.alerts.model import Notification
from collector.alerts.notifiers.base import (
    DeliveryError,
    Notifier,
    NotifierContext,
    NotifierPlugin,
    NotifierSettings,
    payload,
)
from collector.alerts.notifiers.sms_budget import BudgetedSender, SmsBudget, SmsBudgetSettings
from collector.secrets import load_secret

SUMMARY_CHECK_S = 60.0  # how often ended budget windows are looked for
MAX_PARTIAL = 1000  # notifications remembered as sent to some of their phones
Preset = Literal["json", "twilio", "africastalking"]
PRESET_URLS: dict[Preset, str] = {
    "twilio": "https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Messages.json",
    "africastalking": "https://api.africastalking.com/version1/messaging",
}
# what each preset needs, for the one-line error at start-up
PRESET_NEEDS: dict[Preset, tuple[str, ...]] = {
    "json": ("url",),
    "twilio": ("account_sid", "auth_token", "sender"),
    "africastalking": ("username", "api_key"),
}


class WebhookSettings(NotifierSettings, SmsBudgetSettings):
    """JSON POST per notification, or an HTTP SMS gateway's own form (`preset`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["webhook"]
    preset: Preset = "json"
    url: str | None = Field(None, description="required for json; presets have the gateway's")
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    account_sid: str | None = Field(None, description="twilio: account SID (Basic auth user)")
    auth_token: SecretStr | None = Field(None, description="twilio: auth token")
    auth_token_file: Path | None = None
    username: str | None = Field(None, description="africastalking: app username")
    api_key: SecretStr | None = Field(None, description="africastalking: API key")
    api_key_file: Path | None = None
    sender: str | None = Field(None, alias="from", description="sender number or id")

    def needs_phones(self) -> bool:
        return self.preset != "json"

    @model_validator(mode="after")
    def _check(self) -> WebhookSettings:
        self.bearer_token = load_secret(self.bearer_token, self.bearer_token_file, "bearer_token")
        self.auth_token = load_secret(self.auth_token, self.auth_token_file, "auth_token")
        self.api_key = load_secret(self.api_key, self.api_key_file, "api_key")
        self.bearer_token_file = self.auth_token_file = self.api_key_file = None
        missing = [f for f in PRESET_NEEDS[self.preset] if getattr(self, f) is None]
        if missing:
            shown = ", ".join("from" if f == "sender" else f for f in missing)
            raise ValueError(f"webhook preset {self.preset} needs {shown}")
        if self.preset != "json" and self.url is None:
            self.url = PRESET_URLS[self.preset].format(account_sid=self.account_sid)
        elif self.account_sid is not None and self.url is not None:
            self.url = self.url.replace("{account_sid}", self.account_sid)
        assert self.url is not None
        if not re.match(r"^https?://[^\s/]+", self.url):
            raise ValueError(f"webhook url {self.url!r} must be http:// or https://")
        return self


SAMPLE = """\
alerts:
  notifiers:
    sms:
      type: webhook
      url: https://sms-gateway.example.org/solarwater
      # bearer_token: SOLARWATER_ALERTS__NOTIFIERS__SMS__BEARER_TOKEN, or bearer_token_file
      # bearer_token_file: /run/secrets/sms_token
      headers: {X-Fleet: cabo-delgado}
      timeout_s: 10
      retries: 3
"""
# The presets' samples (docs/alerts.md shows them; tests validate them).
PRESET_SAMPLES = {
    "twilio": """\
alerts:
  notifiers:
    sms:
      type: webhook
      preset: twilio
      account_sid: AC0123456789abcdef0123456789abcdef
      # auth_token: SOLARWATER_ALERTS__NOTIFIERS__SMS__AUTH_TOKEN, or auth_token_file
      auth_token_file: /run/secrets/twilio_token
      from: "+258840000000"
      daily_budget: 20
""",
    "africastalking": """\
alerts:
  notifiers:
    sms:
      type: webhook
      preset: africastalking
      username: solarwater
      # api_key: SOLARWATER_ALERTS__NOTIFIERS__SMS__API_KEY, or api_key_file
      api_key_file: /run/secrets/at_api_key
      from: SOLARWATER
      daily_budget: 20
""",
}


class WebhookNotifier:
    """POSTs the notification payload; 2xx is success, 4xx (but 408/429) is permanent."""

    reminders = True

    def __init__(self, name: str, settings: WebhookSettings, language: str = "pt") -> None:
        self.name = name
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        json = {"Content-Type": "application/json"} if settings.preset == "json" else {}
        self._headers = {**json, **settings.headers}
        if settings.bearer_token is not None:
            self._headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
        if settings.api_key is not None:  # africastalking
            self._headers.update(apiKey=settings.api_key.get_secret_value())
            self._headers.setdefault("Accept", "application/json")
        if settings.preset == "twilio":
            assert settings.account_sid is not None and settings.auth_token is not None
            user_pass = f"{settings.account_sid}:{settings.auth_token.get_secret_value()}"
            self._headers["Authorization"] = (
                "Basic " + base64.b64encode(user_pass.encode()).decode()
            )
        s = settings
        budget = SmsBudget(s.daily_budget, s.budget_stations, language) if s.daily_budget else None
        self.gate = BudgetedSender(name, budget, self._deliver)
        self._partial: dict[tuple[int, str, int, str], int] = {}

    def requests(self, n: Notification) -> list[Any]:
        """The request bodies for `n`: the JSON payload, or the preset's forms."""
        s = self.settings
        if s.preset == "json":
            return [orjson.dumps(payload(n))]
        if not n.phones:
            raise DeliveryError("no phone numbers for the SMS gateway", permanent=True)
        if s.preset == "twilio":
            return [{"To": p, "From": s.sender, "Body": n.sms} for p in n.phones]
        form = {"username": s.username, "to": ",".join(n.phones), "message": n.sms}
        return [{**form, "from": s.sender} if s.sender else form]

    async def send(self, n: Notification) -> None:
        await self.gate.send(n)

    async def run(self) -> None:
        """Send the SMS budget's summaries when their windows end (nothing without a budget)."""
        if self.gate.budget is None:
            return
        while True:
            await asyncio.sleep(SUMMARY_CHECK_S)
            await self.gate.summaries()

    def stats(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.gate.counts.items()}

    async def _deliver(self, n: Notification) -> None:
        key = (n.alert_id, n.event, n.ts_ms, n.station)
        done = self._partial.pop(key, 0)  # requests sent before a failure part way
        for i, body in enumerate(self.requests(n)):
            if i < done:
                continue  # not sent twice on the dispatcher's retry
            try:
                await self._post(body)
            except DeliveryError:
                if i and len(self._partial) < MAX_PARTIAL:
                    self._partial[key] = i
                raise

    async def _post(self, body: Any) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        assert self.settings.url is not None
        try:
            async with self._session.post(
                self.settings.url, data=body, headers=self._headers,
                timeout=timeout,
            ) as resp:  # fmt: skip
                if resp.status < 300:
                    return
                permanent = 400 <= resp.status < 500 and resp.status not in (408, 425, 429)
                raise DeliveryError(f"HTTP {resp.status} from webhook", permanent)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def make(name: str, settings: WebhookSettings, ctx: NotifierContext) -> Notifier:
    """The webhook notifier for one `notifiers:` entry."""
    return WebhookNotifier(name, settings, ctx.language)


PLUGIN = NotifierPlugin("webhook", WebhookSettings, make, SAMPLE)
