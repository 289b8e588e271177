"""A Mosquitto broker on a free port, configured like the ones we ship."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.ports import free_port, wait_for_port
from devstack.process import ManagedProcess, require_binary


class Mosquitto(ManagedProcess):
    """Local broker. Persistence is on so persistent sessions survive a restart."""

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        extra_conf: str = "",
        max_inflight: int = 0,
        max_queued: int = 0,
    ) -> None:
        super().__init__(workdir)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra_conf = extra_conf
        self.max_inflight = max_inflight
        self.max_queued = max_queued
        self.conf_path = self.workdir / "mosquitto.conf"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def config_text(self) -> str:
        # Started as root, mosquitto drops to user `mosquitto`, which cannot write its
        # persistence file in our private folders: sessions would not survive a restart.
        user = "user root\n" if os.geteuid() == 0 else ""
        # Default max_queued_messages (1000) drops most of a burst for a slow
        # subscriber even at QoS 1 (design §6); 0 = unlimited, memory bounded by bytes.
        return (
            f"{user}"
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            f"max_inflight_messages {self.max_inflight}\n"
            f"max_queued_messages {self.max_queued}\n"
            "max_queued_bytes 0\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            "log_dest stderr\n"
            f"{self.extra_conf}\n"
        )

    def command(self) -> list[str]:
        self.conf_path.write_text(self.config_text())
        return [require_binary("mosquitto"), "-c", str(self.conf_path)]

    def wait_ready(self) -> None:
        wait_for_port(self.port)
