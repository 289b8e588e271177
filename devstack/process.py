"""A server process with its own folder, log file and clean stop."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from devices.errors import SolarWaterError

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True)
# Each stops the demo as Ctrl-C does: SIGTERM from `kill` (or make), SIGHUP from a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ServiceError(SolarWaterError, RuntimeError):
    """A local service could not be started."""


def require_binary(name: str) -> str:
    """Absolute path of `name`, or a clear error saying how to install it."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise ServiceError(f"{name} is not installed; run 'make install' (apt package for {name})")


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux prctl)."""
    prctl = getattr(_LIBC, "prctl", None)
    if prctl is None:  # not Linux: the ordered shutdown is all there is
        return False
    if prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")
    return True


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold the stop signals for the block: a child started in it is always recorded."""
    # Else a stop landing inside Popen (after the fork) would leave a child nobody stops.
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def guarded_popen_options() -> dict[str, Any]:
    """Popen options for a demo child: its own session, and SIGTERM when the demo dies."""
    parent = os.getpid()

    def in_child() -> None:
        # Runs between fork and exec; both settings survive exec (no set-uid binaries here).
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # held by the parent
        die_with_parent()
        if os.getppid() != parent:  # the parent died before the line above took effect
            os.kill(os.getpid(), signal.SIGTERM)

    # A session of its own: a terminal's Ctrl-C or hang-up reaches only the demo, which
    # then stops the children in order (collector first, so it flushes).
    return {"start_new_session": True, "preexec_fn": in_child}


class ManagedProcess:
    """Base for a local server: subclasses write config and say how to start and probe it."""

    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / f"{self.name}.log"
        # The demo sets this: own session, and stopped by the kernel if the demo dies.
        # Off for tests, which may start servers from threads (PDEATHSIG follows the thread).
        self.guarded = False

    def command(self) -> list[str]:
        raise NotImplementedError

    def wait_ready(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start the process and wait until it serves."""
        if self.running:
            return
        log = self.log_path.open("ab")
        options = guarded_popen_options() if self.guarded else {}
        with stop_signals_held() if self.guarded else contextlib.nullcontext():
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                **options,
            )
        log.close()
        try:
            self.wait_ready()
        except Exception as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise ServiceError(f"{self.name} did not start: {exc}\n{tail}") from None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after `timeout`)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop at once, as a crash would."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
