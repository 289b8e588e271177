"""`--workers N`: N ingest processes sharing the telemetry, plus the one alert engine.

Each ingest child is a plain `python -m collector --role ingest` with its own client id
(`{client_id}-w{i}`, so each keeps its own persistent session), the shared group set, its
own HTTP port (`port + i`; port 0 stays 0, an ephemeral port each) and its own data folder
(`data_dir/w{i}`: spool and quarantine are per process). With role `all` and alerts on, one
more child runs `--role alerts` on its own subscription (`{client_id}-alerts`, `port + N`,
`data_dir/alerts`): it receives every reading itself, so nothing is forwarded between the
children. The parent forwards SIGTERM/SIGINT, waits, and stops the others when one dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from collector.config import Settings, alerts_client_id

# Marks a child, so a config file or environment that says `workers: N` cannot fork again.
WORKER_ENV = "SOLARWATER_COLLECTOR_WORKER_INDEX"
DEFAULT_GROUP = "solarwater-collector"
STOP_GRACE_S = 60.0
ENGINE_NICE = 10  # the alert engine child's niceness under `--workers`


def worker_index() -> int | None:
    """This process's child index when it was started by `run_workers`, else None."""
    raw = os.environ.get(WORKER_ENV)
    return int(raw) if raw is not None and raw.isdigit() else None


def child_count(settings: Settings) -> int:
    """How many children `run_workers` starts: the ingest workers, and the engine if it runs."""
    engine = settings.role == "all" and settings.alerts.enabled
    return settings.workers + (1 if engine else 0)


def _listen(settings: Settings, i: int) -> str:
    http = settings.http
    port = http.port + i if http.port else 0
    host = f"[{http.host}]" if ":" in http.host else http.host
    return f"{host}:{port}"


def worker_command(settings: Settings, argv: list[str], i: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of child `i` (`i == workers`: the alert engine).

    Later flags win in argparse and the command line beats the environment, so the
    per-child values are appended as flags where a flag exists and set in the
    environment where none does (client id, shared group, instance).
    """
    env = {**os.environ, WORKER_ENV: str(i)}
    data = Path(settings.data_dir)
    if i == settings.workers:
        args = ["--role", "alerts", "--data-dir", str(data / "alerts")]
        env["SOLARWATER_MQTT__CLIENT_ID"] = alerts_client_id(settings.mqtt.client_id)
        env["SOLARWATER_INSTANCE"] = f"{settings.instance[:57]}-alerts"
    else:
        args = ["--role", "ingest", "--data-dir", str(data / f"w{i}")]
        env.update(
            {
                "SOLARWATER_MQTT__CLIENT_ID": f"{settings.mqtt.client_id}-w{i}",
                "SOLARWATER_MQTT__SHARED_GROUP": settings.mqtt.shared_group or DEFAULT_GROUP,
                "SOLARWATER_INSTANCE": f"{settings.instance}-w{i}",
                "SOLARWATER_MQTT__SUBSCRIBE_STATUS": "true" if i == 0 else "false",
            }
        )
    cmd = [*argv, "--workers", "1", "--http", _listen(settings, i), *args]
    return [sys.executable, "-m", "collector", *cmd], env


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
        for i in range(child_count(settings)):
            cmd, env = worker_command(settings, argv, i)
            children.append(subprocess.Popen(cmd, env=env))
            if i == settings.workers:
                # Ingest first on a busy host: the engine may lag (the broker queues for it,
                # rules judge device time), a spool or a full intake costs more.
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, children[-1].pid, ENGINE_NICE)
        failed = _wait(children, lambda: stopping)
        if failed is not None and not stopping:
            name = "the alert engine" if failed == settings.workers else f"worker {failed}"
            print(
                f"collector: {name} exited with code {children[failed].returncode}; "
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
