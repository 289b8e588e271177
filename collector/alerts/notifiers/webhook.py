"""Webhook notifier: one JSON POST per notification, optional bearer token."""

from __future__ import annotations

import aiohttp
import orjson

from collector.alerts.model import Notification
from collector.alerts.notifiers.base import (
    DeliveryError,
    Notifier,
    NotifierContext,
    payload,
    register,
)
from collector.alerts.settings import WebhookSettings


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


@register("webhook")
def _make(name: str, settings: WebhookSettings, ctx: NotifierContext) -> Notifier:
    return WebhookNotifier(name, settings)
