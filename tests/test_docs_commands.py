"""The manual's shell blocks marked `<!-- runnable -->` run as written in a fresh clone."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- runnable -->"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Pages whose blocks need a tool beyond the venv and the Debian packages `make` installs.
NEEDS = {"security.md": "openssl"}


def marked_blocks(page: Path) -> list[str]:
    """The shell blocks right after a runnable marker, in page order."""
    return re.findall(re.escape(MARK) + r"\n```sh\n(.*?)```", page.read_text(), flags=re.S)


def fresh_clone(dest: Path) -> Path:
    """The tracked files only, as `git clone` gives them, plus the venv `make install` makes."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src, dst = ROOT / name.decode(), dest / name.decode()
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def test_the_chapters_mark_cheap_commands_to_run() -> None:
    marked = {p.name for p in PAGES if marked_blocks(p)}
    assert marked >= {"configuration.md", "dashboards.md", "simulator.md", "security.md"}
    for page in PAGES:  # a marker that is not followed by a sh block would be skipped silently
        markers = re.findall("^" + re.escape(MARK) + "$", page.read_text(), flags=re.M)
        assert len(markers) == len(marked_blocks(page)), page.name


@pytest.mark.parametrize("page", [p for p in PAGES if marked_blocks(p)], ids=lambda p: p.name)
def test_the_marked_blocks_run_in_a_fresh_clone(page: Path, tmp_path: Path) -> None:
    tool = NEEDS.get(page.name)
    if tool and shutil.which(tool) is None:
        pytest.skip(f"needs the {tool} CLI")
    clone = fresh_clone(tmp_path / "clone")
    for block in marked_blocks(page):
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{page.name}:\n{block}\n{done.stdout}\n{done.stderr}"
