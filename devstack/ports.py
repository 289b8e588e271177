"""Free-port and readiness helpers."""

from __future__ import annotations

import random
import socket
import time

# Below Linux's ephemeral range (32768-60999): no outgoing connection takes these meanwhile.
BLOCK_RANGE = (20000, 32000)
# its own generator: a test that seeds `random` must not make parallel test processes pick alike
_PICK = random.SystemRandom()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the ephemeral range.

    A port the kernel hands out for bind(0) is ephemeral: by the time the server binds it, an
    outgoing connection (of any test running beside) may hold it.
    """
    return free_port_block(1)


def free_port_block(n: int) -> int:
    """The first of `n` consecutive free ports, for a collector whose children take port+i.

    Picked below the ephemeral range, so that no outgoing connection takes one meanwhile.
    """
    for _ in range(200):
        base = _PICK.randrange(BLOCK_RANGE[0], BLOCK_RANGE[1] - n)
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise OSError(f"no {n} consecutive free ports in {BLOCK_RANGE}")


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
