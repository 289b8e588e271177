"""`--workers N`: N collector processes sharing the telemetry through an MQTT shared subscription.

Each child is a plain `python -m collector` with its own client id (`{client_id}-w{i}`,
so each keeps its own persistent session), the shared group set, its own HTTP port
(`port + i`; port 0 stays 0, an ephemeral port each) and its own data folder
(`data_dir/w{i}`: spool, quarantine and alert state are per process). The parent
forwards SIGTERM/SIGINT, waits, and stops the others when one dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from collector.alert_forward import SOCKET_ENV, socket_path
from collector.args import parser, settings_from_args
from collector.config import ConfigError, Settings

# Marks a child, so a config file or environment that says `workers: N` cannot fork again.
WORKER_ENV = "SOLARWATER_COLLECTOR_WORKER_INDEX"
DEFAULT_GROUP = "solarwater-collector"
STOP_GRACE_S = 60.0


def worker_index() -> int | None:
    """This process's worker index when it was started by `run_workers`, else None."""
    raw = os.environ.get(WORKER_ENV)
    return int(raw) if raw is not None and raw.isdigit() else None


def worker_command(settings: Settings, argv: list[str], i: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of worker `i`.

    Later flags win in argparse and the command line beats the environment, so the
    per-worker values are appended as flags where a flag exists and set in the
    environment where none does (client id, shared group, instance).
    """
    http = settings.http
    port = http.port + i if http.port else 0
    host = f"[{http.host}]" if ":" in http.host else http.host
    args = [
        *argv,
        "--workers",
        "1",
        "--http",
        f"{host}:{port}",
        "--data-dir",
        str(Path(settings.data_dir) / f"w{i}"),
    ]
    env = {
        **os.environ,
        WORKER_ENV: str(i),
        "SOLARWATER_MQTT__CLIENT_ID": f"{settings.mqtt.client_id}-w{i}",
        "SOLARWATER_MQTT__SHARED_GROUP": settings.mqtt.shared_group or DEFAULT_GROUP,
        "SOLARWATER_INSTANCE": f"{settings.instance}-w{i}",
        "SOLARWATER_MQTT__SUBSCRIBE_STATUS": "true" if i == 0 else "false",
    }
    if settings.alerts.enabled:
        # One alert engine sees every reading: worker 0's; the others forward to it.
        env[SOCKET_ENV] = socket_path(Path(settings.data_dir))
        if i > 0:
            env["SOLARWATER_ALERTS__ENABLED"] = "false"
    return [sys.executable, "-m", "collector", *args], env


def run_workers(settings: Settings, argv: list[str]) -> int:
    """Run `settings.workers` children until a signal or a death; the exit code says which."""
    children: list[subprocess.Popen[bytes]] = []
    stopping = False
    failed: int | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for i in range(settings.workers):
            cmd, env = worker_command(settings, argv, i)
            children.append(subprocess.Popen(cmd, env=env))
        failed = _wait(children, lambda: stopping)
        if failed is not None and not stopping:
            print(
                f"collector: worker {failed} exited with code {children[failed].returncode}; "
                "stopping the others",
                file=sys.stderr,
            )
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
        _reap(children)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    codes = [child.returncode for child in children]
    if failed is not None and not stopping:
        code = codes[failed]
        return code if code and code > 0 else 1  # killed by a signal: report a plain failure
    return next((c for c in codes if c not in (0, -signal.SIGTERM, -signal.SIGINT)), 0)


def _wait(children: list[subprocess.Popen[bytes]], stopping: Callable[[], bool]) -> int | None:
    """Block until every child has exited (after a stop) or one exits on its own."""
    while True:
        for i, child in enumerate(children):
            if child.poll() is not None and not stopping():
                return i
        if stopping() or all(child.poll() is not None for child in children):
            return None
        time.sleep(0.2)


def _reap(children: list[subprocess.Popen[bytes]]) -> None:
    """Wait for every child; one that ignores SIGTERM for too long is killed."""
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    """`python -m collector.workers ...`: the same flags as `python -m collector`."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(args_list)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    return run_workers(settings, args_list)


if __name__ == "__main__":
    sys.exit(main())
