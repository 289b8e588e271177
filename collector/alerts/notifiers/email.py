"""Email notifier over SMTP (aiosmtplib): STARTTLS or TLS and login optional."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import ClassVar, Literal

import aiosmtplib
from pydantic import ConfigDict, Field, SecretStr, model_validator

from collector.alerts.model import Notification
from collector.alerts.notifiers.base import (
    Addresses,
    DeliveryError,
    Notifier,
    NotifierContext,
    NotifierPlugin,
    NotifierSettings,
    iso,
)
from collector.secrets import load_secret

EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+$")


class EmailSettings(NotifierSettings):
    """SMTP through aiosmtplib; STARTTLS or implicit TLS and login optional."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    sender: str = Field("solarwater@localhost", alias="from")
    needs_emails: ClassVar[bool] = True
    addresses: ClassVar[Addresses] = "emails"

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _secret(self) -> EmailSettings:
        self.password = load_secret(self.password, self.password_file, "password")
        self.password_file = None
        if self.password is not None and not self.username:
            raise ValueError("an SMTP password needs a username")
        if not EMAIL_RE.match(self.sender):
            raise ValueError(f"from address {self.sender!r} is not an email address")
        return self


SAMPLE = """\
alerts:
  notifiers:
    mail:
      type: email
      host: smtp.example.org
      port: 587
      security: starttls
      username: solarwater
      # password: SOLARWATER_ALERTS__NOTIFIERS__MAIL__PASSWORD, or password_file
      # password_file: /run/secrets/smtp_password
      from: solarwater@example.org
"""


def compose(n: Notification, sender: str) -> EmailMessage:
    """One message to all the route's addresses; the subject is the SMS text."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(n.emails)
    msg["Subject"] = n.text
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg["X-SolarWater-Alert"] = f"{n.alert_id} {n.event}"
    lines = [
        n.text,
        "",
        (f"stations: {', '.join(n.stations)}" if n.stations else f"station: {n.station}")
        + (f" ({n.station_name})" if n.station_name else ""),
        f"district: {n.district or '-'}",
        f"device: {n.device or '-'}",
        f"rule: {n.rule} ({n.severity})",
        f"value: {n.value:g}   threshold: {n.threshold}",
        f"since: {iso(n.since_ms)}   at: {iso(n.ts_ms)}",
        f"alert id: {n.alert_id} (acknowledge: POST /alerts/{n.alert_id}/ack)"
        if not n.alert_ids
        else f"alert ids: {', '.join(map(str, n.alert_ids))}",
    ]
    if n.link:
        lines[1:1] = ["", n.link]  # the phone's way to acknowledge: right under the text
    msg.set_content("\n".join(lines) + "\n")
    return msg


class EmailNotifier:
    """Sends through one SMTP server; connection per message (alerts are rare)."""

    reminders = True

    def __init__(self, name: str, settings: EmailSettings) -> None:
        self.name = name
        self.s = settings

    async def send(self, n: Notification) -> None:
        if not n.emails:
            raise DeliveryError("no email recipients", permanent=True)
        s = self.s
        try:
            await aiosmtplib.send(
                compose(n, s.sender),
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password.get_secret_value() if s.password else None,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                timeout=s.timeout_s,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused: {exc.code}", permanent=True) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused recipients: {exc}", permanent=True) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        return None


def make(name: str, settings: EmailSettings, ctx: NotifierContext) -> Notifier:
    """The email notifier for one `notifiers:` entry."""
    return EmailNotifier(name, settings)


PLUGIN = NotifierPlugin("email", EmailSettings, make, SAMPLE)
