"""The C publisher and counting subscriber, compiled with gcc against libmosquitto at bench time."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devices.errors import SolarWaterError

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "c"
BUILD = HERE / "build"


class BuildError(SolarWaterError, RuntimeError):
    """gcc or libmosquitto-dev is missing, or the sources do not compile."""


def build() -> dict[str, Path]:
    """Compile (when the source is newer than the binary) and return the tool paths."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise BuildError("gcc is not installed (apt install gcc)")
    if not Path("/usr/include/mosquitto.h").exists():
        raise BuildError("libmosquitto-dev is not installed (make install)")
    BUILD.mkdir(exist_ok=True)
    tools = {}
    for name in ("swpub", "swsub"):
        src, out = SOURCES / f"{name}.c", BUILD / name
        if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
            cmd = [gcc, "-O2", "-Wall", "-o", str(out), str(src), "-lmosquitto"]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BuildError(f"gcc failed for {src.name}: {done.stderr.strip()[:500]}")
        tools[name] = out
    return tools


def publish_cmd(
    tool: Path,
    host: str,
    port: int,
    prefix: str,
    messages: int,
    *,
    rate: float = 0,
    stations: int = 100,
    batch: int = 1,
    wallclock: bool = False,
    alarm: bool = False,
) -> list[str]:
    """Command line of one C publisher run (see swpub.c); `alarm`: every battery low."""
    ts = "now" if wallclock else "seq"
    counts = [str(messages), str(rate), str(stations), str(batch)]
    return [str(tool), host, str(port), prefix, *counts, ts, *(["alarm"] if alarm else [])]


def parse_last_json(text: str) -> dict[str, Any]:
    """The JSON summary line a C tool prints last."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            value: dict[str, Any] = json.loads(line)
            return value
    raise RuntimeError(f"no summary in tool output: {text[-300:]!r}")
