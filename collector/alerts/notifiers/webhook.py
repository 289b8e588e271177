"""Webhook notifier: one JSON POST per notification, optional bearer token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import aiohttp
import orjson
from pydantic import Field, SecretStr, field_validator, model_validator

from collector.alerts.model import Notification
from collector.alerts.notifiers.base import (
    DeliveryError,
    Notifier,
    NotifierContext,
    NotifierPlugin,
    NotifierSettings,
    payload,
)
from collector.secrets import load_secret


class WebhookSettings(NotifierSettings):
    """JSON POST per notification (SMS gateways take these)."""

    type: Literal["webhook"]
    url: str
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"webhook url {v!r} must be http:// or https://")
        return v

    @model_validator(mode="after")
    def _secret(self) -> WebhookSettings:
        self.bearer_token = load_secret(self.bearer_token, self.bearer_token_file, "bearer_token")
        self.bearer_token_file = None
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


class WebhookNotifier:
    """POSTs the notification payload; 2xx is success, 4xx (but 408/429) is permanent."""

    reminders = True

    def __init__(self, name: str, settings: WebhookSettings) -> None:
        self.name = name
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Content-Type": "application/json", **settings.headers}
        if settings.bearer_token is not None:
            self._headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"

    async def send(self, n: Notification) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        try:
            async with self._session.post(
                self.settings.url, data=orjson.dumps(payload(n)), headers=self._headers,
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
    return WebhookNotifier(name, settings)


PLUGIN = NotifierPlugin("webhook", WebhookSettings, make, SAMPLE)
