"""Node-RED and node-red-contrib-influxdb, installed with npm into bench/build/nodered/ once."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from devices.errors import SolarWaterError

HERE = Path(__file__).resolve().parent
PACKAGE_JSON = HERE / "package.json"
INSTALL_DIR = HERE.parent / "build" / "nodered"
MIN_NODE_MAJOR = 18  # Node-RED 4.x needs Node.js 18 or later


class InstallError(SolarWaterError, RuntimeError):
    """Node.js/npm is missing or too old, or npm could not install the packages."""


def pinned_versions() -> dict[str, str]:
    """The package versions the benchmark runs (bench/nodered/package.json)."""
    deps: dict[str, str] = json.loads(PACKAGE_JSON.read_text())["dependencies"]
    return deps


def _node_major(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    try:
        return int(out.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        raise InstallError(f"cannot read the Node.js version from {out.stdout!r}") from None


def node_binary() -> str:
    """The `node` executable, checked to be new enough for Node-RED 4."""
    node = shutil.which("node")
    if node is None:
        raise InstallError("Node.js is not installed (Node-RED 4 needs Node.js >= 18)")
    major = _node_major(node)
    if major < MIN_NODE_MAJOR:
        raise InstallError(f"Node.js {major} is too old: Node-RED 4 needs Node.js >= 18")
    return node


def _installed(wanted: str) -> bool:
    stamp = INSTALL_DIR / ".installed"
    return stamp.exists() and stamp.read_text() == wanted and red_js().exists()


def red_js() -> Path:
    """Node-RED's entry script inside the install folder."""
    return INSTALL_DIR / "node_modules" / "node-red" / "red.js"


def _npm_reason(stderr: str) -> str:
    """`CODE: first message line` out of npm's multi-line error report."""
    msgs = []
    for ln in stderr.splitlines():
        for prefix in ("npm error ", "npm ERR! "):
            if ln.startswith(prefix):
                msgs.append(ln[len(prefix) :].strip())
    code = next((m.split()[1] for m in msgs if m.startswith("code ") and len(m.split()) > 1), "")
    skip = ("code ", "syscall ", "errno ", "at ", "A complete log", "{", "}")
    text = next((m for m in msgs if m and not m.startswith(skip)), "")
    return f"{code}: {text}" if code and text else code or text


def ensure_installed(timeout: float = 600.0) -> Path:
    """Install the pinned packages unless this exact set is already there; return red.js."""
    wanted = PACKAGE_JSON.read_text()
    if _installed(wanted):
        return red_js()
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not installed (apt install npm, or Node.js from nodesource)")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    (INSTALL_DIR / "package.json").write_text(wanted)
    (INSTALL_DIR / ".installed").unlink(missing_ok=True)
    cmd = [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"]
    versions = ", ".join(f"{k}@{v}" for k, v in pinned_versions().items())
    print(f"bench.peers: npm install {versions} into {INSTALL_DIR}", flush=True)
    try:
        done = subprocess.run(
            cmd, cwd=INSTALL_DIR, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise InstallError(f"npm install took over {timeout:.0f}s (no network?)") from None
    if done.returncode != 0:
        why = _npm_reason(done.stderr) or f"exit code {done.returncode}"
        raise InstallError(f"npm install of {versions} failed (no network?): {why[:300]}")
    if not red_js().exists():
        raise InstallError(f"npm install finished but {red_js()} is missing")
    (INSTALL_DIR / ".installed").write_text(wanted)
    return red_js()
