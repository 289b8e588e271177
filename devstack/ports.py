"""Free-port and readiness helpers."""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
import time
from pathlib import Path

# Below Linux's ephemeral range (32768-60999): no outgoing connection takes these meanwhile.
BLOCK_RANGE = (20000, 32000)
# A port handed out is not handed out again (by any process of this user) for this long:
# between the pick and the server's bind, and while a test restarts a server on its port.
RESERVE_S = 900.0
# its own generator: a test that seeds `random` must not make parallel test processes pick alike
_PICK = random.SystemRandom()


def _slice() -> tuple[int, int]:
    """This process's share of BLOCK_RANGE: pytest-xdist workers (and their children) pick apart."""
    lo, hi = BLOCK_RANGE
    worker, count = (
        os.environ.get("PYTEST_XDIST_WORKER", ""),
        os.environ.get("PYTEST_XDIST_WORKER_COUNT", ""),
    )
    if not (worker.startswith("gw") and worker[2:].isdigit() and count.isdigit()):
        return lo, hi
    n, i = max(1, int(count)), int(worker[2:])
    width = (hi - lo) // n
    return lo + (i % n) * width, lo + (i % n + 1) * width


def _reservations() -> Path:
    path = Path(tempfile.gettempdir()) / f"solarwater-ports-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _bindable(base: int, n: int) -> bool:
    socks = []
    try:
        for port in range(base, base + n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the ephemeral range.

    A port the kernel hands out for bind(0) is ephemeral: by the time the server binds it, an
    outgoing connection (of any test running beside) may hold it.
    """
    return free_port_block(1)


def free_port_block(n: int) -> int:
    """The first of `n` consecutive free ports, for a collector whose children take port+i.

    Free now, and reserved for RESERVE_S against every other caller of this user (a lock file
    and one marker file per port): two processes that pick before either server binds must not
    pick alike, nor may a process pick a port whose server another is restarting.
    """
    lo, hi = _slice()
    folder = _reservations()
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        now = time.time()
        for _ in range(400):
            base = _PICK.randrange(lo, hi - n)
            marks = [folder / str(p) for p in range(base, base + n)]
            if any(_reserved(m, now) for m in marks) or not _bindable(base, n):
                continue
            for m in marks:
                m.touch()
            return base
    raise OSError(f"no {n} consecutive free ports in {lo}-{hi}")


def _reserved(mark: Path, now: float) -> bool:
    try:
        return now - mark.stat().st_mtime < RESERVE_S
    except FileNotFoundError:
        return False


def port_or_free(preferred: int) -> int:
    """`preferred` when nothing listens on it (so the user's own tools work), else a free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as the servers do: a port with only TIME_WAIT connections left is not busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on `port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)
