"""SMS through a GSM modem: files in the outbox spool of gammu-smsd or smstools; replies read back.

Works without internet: the daemon drives the modem, this notifier only writes its spool files
(atomically, bounded) and reads the daemon's inbox for `OK <id>` replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from collector.alerts.model import Notification
from collector.alerts.notifiers.base import (
    DeliveryError,
    Notifier,
    NotifierContext,
    NotifierPlugin,
    NotifierSettings,
    SmsReply,
)
from collector.alerts.notifiers.sms_budget import BudgetedSender, SmsBudget, SmsBudgetSettings
from collector.alerts.notifiers.sms_spool import (
    ENCODINGS,
    Daemon,
    Encoding,
    gammu_body,
    gammu_name,
    inbox_files,
    queued,
    read_received,
    smstools_body,
    smstools_name,
    write_atomic,
)
from devices.errors import ConfigError

log = logging.getLogger("collector.alerts")

# The Debian packages' spool directories.
DEFAULT_DIRS: dict[Daemon, tuple[str, str]] = {
    "gammu": ("/var/spool/gammu/outbox", "/var/spool/gammu/inbox"),
    "smstools": ("/var/spool/sms/outgoing", "/var/spool/sms/incoming"),
}
PRIORITY = {"critical": "A", "warning": "B"}  # gammu sends A first; the rest is "C"
MAX_PARTIAL = 1000  # notifications remembered as sent to some of their phones


class ModemSettings(NotifierSettings, SmsBudgetSettings):
    """SMS files for gammu-smsd (files backend) or smstools, which drive the GSM modem."""

    type: Literal["sms_modem"]
    daemon: Daemon = "gammu"
    outbox: Path | None = Field(None, description="spool the daemon sends from (Debian default)")
    inbox: Path | None = Field(None, description="spool the daemon stores received SMS in")
    replies: bool = Field(True, description="read the inbox for `OK <id>` acknowledgements")
    processed: Path | None = Field(None, description="read inbox files go here; unset: deleted")
    tmp_dir: Path | None = Field(None, description="temp files (same filesystem); unset: outbox")
    encoding: Encoding | None = Field(
        None, description="gammu: utf-16 (default), utf-8; smstools: utf-8 (default), iso, ucs2"
    )
    max_queued: int = Field(500, ge=1, le=100_000, description="files in the outbox; more refused")
    poll_interval_s: float = Field(5.0, gt=0, le=3600, description="inbox and summary checks")
    settle_s: float = Field(1.0, ge=0, le=60, description="an inbox file this old is complete")
    max_replies_per_poll: int = Field(100, ge=1, le=10_000)

    def needs_phones(self) -> bool:
        return True

    @model_validator(mode="after")
    def _defaults(self) -> ModemSettings:
        out, inbox = DEFAULT_DIRS[self.daemon]
        self.outbox = self.outbox or Path(out)
        self.inbox = self.inbox or Path(inbox)
        allowed = ENCODINGS[self.daemon]
        if self.encoding is None:
            self.encoding = allowed[0]
        elif self.encoding not in allowed:
            raise ValueError(
                f"encoding {self.encoding!r} is not one {self.daemon} reads ({', '.join(allowed)})"
            )
        return self


SAMPLE = """\
alerts:
  notifiers:
    modem:
      type: sms_modem
      daemon: gammu            # or smstools
      outbox: /var/spool/gammu/outbox
      inbox: /var/spool/gammu/inbox
      encoding: utf-16
      daily_budget: 20         # SMS per station per 24 h; the rest summed up in one SMS
"""


class ModemNotifier:
    """Writes one spool file per phone; `run` reads replies and sends budget summaries."""

    reminders = True

    def __init__(self, name: str, s: ModemSettings, reply: SmsReply | None, language: str):
        assert s.outbox is not None and s.inbox is not None and s.encoding is not None
        self.name = name
        self.s = s
        self.outbox, self.inbox, self.encoding = s.outbox, s.inbox, s.encoding
        self.reply = reply if s.replies else None
        budget = SmsBudget(s.daily_budget, s.budget_stations, language) if s.daily_budget else None
        self.gate = BudgetedSender(name, budget, self._write)
        self._serial = 0
        self._partial: dict[tuple[int, str, int, str], set[str]] = {}
        self.counts = dict.fromkeys(
            ("sms_written", "sms_spool_errors", "sms_outbox_full", "sms_replies_read",
             "sms_inbox_errors"),
            0,
        )  # fmt: skip

    async def send(self, n: Notification) -> None:
        if not n.phones:
            raise DeliveryError("no phone numbers", permanent=True)
        await self.gate.send(n)

    async def _write(self, n: Notification) -> None:
        if not n.phones:
            raise DeliveryError("no phone numbers", permanent=True)
        key = (n.alert_id, n.event, n.ts_ms, n.station)
        done = self._partial.get(key, set())
        for phone in n.phones:
            if phone in done:
                continue  # a retry after a failure part way: not sent twice
            try:
                await asyncio.to_thread(self._write_one, n, phone)
            except DeliveryError:
                self._remember(key, done)
                raise
            except OSError as exc:
                self.counts["sms_spool_errors"] += 1
                self._remember(key, done)
                raise DeliveryError(f"SMS spool {self.outbox}: {exc}") from None
            done.add(phone)
            self.counts["sms_written"] += 1
        self._partial.pop(key, None)

    def _remember(self, key: tuple[int, str, int, str], done: set[str]) -> None:
        if done and (key in self._partial or len(self._partial) < MAX_PARTIAL):
            self._partial[key] = done

    def _write_one(self, n: Notification, phone: str) -> None:
        if queued(self.outbox) >= self.s.max_queued:
            self.counts["sms_outbox_full"] += 1
            raise DeliveryError(f"SMS outbox {self.outbox} holds {self.s.max_queued} files")
        now = time.time()
        note = f"a{n.alert_id}{n.event[:3]}"
        if self.s.daemon == "gammu":
            self._serial += 1
            prio = PRIORITY.get(n.severity, "C") if n.event in ("firing", "reminder") else "C"
            name = gammu_name(prio, phone, note, now, self._serial)
            body = gammu_body(n.sms, self.encoding)
        else:
            name = smstools_name(note, now)
            body = smstools_body(phone, n.sms, self.encoding)
        write_atomic(self.outbox, name, body, self.s.tmp_dir)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.s.poll_interval_s)
            try:
                await self.gate.summaries()
                if self.reply is not None:
                    await self.read_replies()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad spool must not end the reader: counted, tried again
                self.counts["sms_inbox_errors"] += 1
                log.exception("SMS notifier %s: inbox %s", self.name, self.inbox)

    async def read_replies(self) -> int:
        """Hand each complete inbox file to the reply handler, then move it away; how many."""
        assert self.reply is not None
        older = time.time() - self.s.settle_s
        paths = await asyncio.to_thread(
            inbox_files, self.inbox, self.s.daemon, older, self.s.max_replies_per_poll
        )
        for path in paths:
            try:
                got = await asyncio.to_thread(read_received, path, self.s.daemon)
            except OSError as exc:
                self.counts["sms_inbox_errors"] += 1
                log.warning("SMS reply %s unreadable: %s", path.name, exc)
                continue
            self.counts["sms_replies_read"] += 1
            outcome = await self.reply(got.sender or "", got.text or "")
            log.info("SMS reply %s from %s: %s", path.name, got.sender, outcome)
            try:
                await asyncio.to_thread(self._done, path)
            except OSError as exc:
                self.counts["sms_inbox_errors"] += 1
                log.warning("SMS reply %s not moved away: %s", path.name, exc)
        return len(paths)

    def _done(self, path: Path) -> None:
        if self.s.processed is None:
            path.unlink()
        else:
            shutil.move(path, self.s.processed / path.name)

    def stats(self) -> dict[str, float]:
        return {k: float(v) for k, v in {**self.counts, **self.gate.counts}.items()}

    async def close(self) -> None:
        return None


def make(name: str, settings: ModemSettings, ctx: NotifierContext) -> Notifier:
    """The modem notifier for one `notifiers:` entry; its spool directories must exist."""
    dirs = [("outbox", settings.outbox), ("tmp_dir", settings.tmp_dir)]
    if settings.replies:
        dirs += [("inbox", settings.inbox), ("processed", settings.processed)]
    for what, d in dirs:
        if d is not None and not d.is_dir():
            raise ConfigError(f"notifier {name!r}: {what} {d} is not a directory")
    tmp, out = settings.tmp_dir, settings.outbox
    with contextlib.suppress(OSError):
        if tmp is not None and out is not None and tmp.stat().st_dev != out.stat().st_dev:
            raise ConfigError(f"notifier {name!r}: tmp_dir must be on the outbox's filesystem")
    return ModemNotifier(name, settings, ctx.reply, ctx.language)


PLUGIN = NotifierPlugin("sms_modem", ModemSettings, make, SAMPLE)
