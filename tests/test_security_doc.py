"""The security chapter: its commands run as written from a fresh clone, and say what they do."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "docs" / "security.md"
MARK = "<!-- runnable -->"
TEXT = CHAPTER.read_text()

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The tracked files only, as `git clone` would give them (no .env, no deploy/certs)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    out = tmp_path / "clone"
    for name in filter(None, files):
        src, dst = ROOT / name.decode(), out / name.decode()
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return out


def marked_blocks() -> list[str]:
    return re.findall(re.escape(MARK) + r"\n```sh\n(.*?)```", TEXT, flags=re.S)


def test_the_marked_blocks_run_in_a_fresh_clone(clone: Path) -> None:
    blocks = marked_blocks()
    assert len(blocks) == 2
    outputs = []
    for block in blocks:
        done = subprocess.run(
            ["bash", "-euc", block], cwd=clone, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{block}\n{done.stderr}"
        outputs.append(done.stdout)
    assert "kept the server certificate" in outputs[0]
    assert outputs[1].strip() == "7"  # what the chapter's comment says
    env = dict(
        line.split("=", 1)
        for line in (clone / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    secrets = [v for k, v in env.items() if re.search("PASSWORD|TOKEN", k)]
    assert len(secrets) == len(set(secrets)) == 7 and all(len(v) >= 24 for v in secrets)


def test_its_add_station_commands_are_what_the_tool_takes(tmp_path: Path) -> None:
    commands = [
        shlex.split(line.split("#")[0])
        for line in TEXT.splitlines()
        if line.startswith("deploy/add-station.sh")
    ]
    assert {c[1] for c in commands} >= {"--rotate", "--revoke"}
    passwd = tmp_path / "p"
    subprocess.run(
        ["sh", str(ROOT / "deploy/add-station.sh"), "--passwd-file", str(passwd), "PEMBA-03"],
        check=True,
        capture_output=True,
    )
    for command in commands:  # the compose form, run against a file instead of the container
        args = ["sh", str(ROOT / command[0]), "--passwd-file", str(passwd), *command[1:]]
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    assert "PEMBA-03" not in passwd.read_text()  # the last one revoked it
