"""A real gammu-smsd (Debian `gammu-smsd`) on its files backend with Gammu's dummy phone.

The dummy driver keeps the phone in a folder: a message it "sends" is logged, and a file in
its `sms/1/` folder (Gammu's SMS backup format, gammu-smsbackup(5)) is an SMS it received,
which the daemon stores in its inbox as `IN<date>_<time>_<serial>_<sender>_<seq>.txt`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

GAMMU_SMSD = shutil.which("gammu-smsd")


class GammuSmsd:
    """One gammu-smsd process on its own spool folders under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.phone = root / "phone"
        self.inbox, self.outbox = root / "inbox", root / "outbox"
        self.sent, self.error = root / "sent", root / "error"
        for d in (self.phone, self.inbox, self.outbox, self.sent, self.error):
            d.mkdir(parents=True, exist_ok=True)
        self.log = root / "smsd.log"
        self.config = root / "smsdrc"
        # CommTimeout 1: the outbox (and the phone's inbox) are looked at every second
        self.config.write_text(
            f"[gammu]\ndevice = {self.phone}\nconnection = none\nmodel = dummy\n\n"
            f"[smsd]\nservice = files\nlogfile = {self.log}\ndebuglevel = 1\n"
            f"inboxpath = {self.inbox}/\noutboxpath = {self.outbox}/\n"
            f"sentsmspath = {self.sent}/\nerrorsmspath = {self.error}/\n"
            "inboxformat = unicode\ncommtimeout = 1\nreceivefrequency = 1\nloopsleep = 1\n"
            "checksecurity = 0\ncheckbattery = 0\nchecksignal = 0\nstatusfrequency = 0\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._received = 0

    def start(self, timeout: float = 10.0) -> None:
        assert GAMMU_SMSD is not None
        self.proc = subprocess.Popen(
            [GAMMU_SMSD, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LANG": "C.UTF-8"},
        )
        self.wait_log("Starting phone communication", timeout)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, needle: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.log_text():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"gammu-smsd exited: {self.log_text()[-800:]}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"gammu-smsd never logged {needle!r}: {self.log_text()[-800:]}"
                )
            time.sleep(0.05)

    def receive(self, sender: str, text: str) -> None:
        """The dummy phone receives an SMS from `sender` (picked up within CommTimeout)."""
        self._received += 1
        hex_text = text.encode("utf-16-be").hex().upper()
        backup = (
            "[SMSBackup000]\n"
            f'SMSC = "+258840000000"\nState = UnRead\nNumber = "{sender}"\n'
            f"Coding = Default\nFolder = 1\nLength = {len(text)}\nClass = -1\n"
            f"Text00 = {hex_text}\nSent = 20250701T200000\nPDU = Deliver\n"
        )
        tmp = self.root / f"received-{self._received}.tmp"
        tmp.write_text(backup)
        os.replace(tmp, self.phone / "sms" / "1" / str(self._received))
