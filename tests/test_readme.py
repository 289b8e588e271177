"""The manual stays true: README.md is short, its chapters link up, generated tables are fresh."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from collector.config import default_client_id, load_settings
from collector.settings_doc import BLOCKS, generated, rows

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
CHAPTERS = (
    "configuration", "contract", "alerts", "dashboards", "deployment", "operations",
    "security", "benchmarks", "design", "testing", "web",
)  # fmt: skip


def test_every_setting_is_in_the_configuration_chapter() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [f"`{dotted}`" for dotted, *_ in rows() if f"`{dotted}`" not in text]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_the_generated_tables_are_fresh() -> None:
    """Refresh them with `.venv/bin/python -m collector.settings_doc`."""
    for filename, name, make in BLOCKS:
        assert generated(name, (DOCS / filename).read_text()) == make(), (
            f"docs/{filename}: the {name} table is stale: run python -m collector.settings_doc"
        )


def test_readme_is_a_short_manual_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 15 * 1024
    assert "make demo" in readme and "make test" in readme
    assert "## Contents" in readme
    for chapter in CHAPTERS:
        assert f"(docs/{chapter}.md)" in readme, chapter
        assert (DOCS / f"{chapter}.md").is_file(), chapter


def test_example_config_is_valid() -> None:
    settings = load_settings(ROOT / "config" / "collector.example.yaml")
    assert settings.mqtt.client_id == default_client_id(socket.gethostname())
    assert settings.mqtt.client_id.startswith("solarwater-collector.")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_every_local_link_and_anchor_exists() -> None:
    broken = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_shell_blocks_name_the_venv_python() -> None:
    """A fresh clone has no `python` with our packages: blocks write .venv/bin/python."""
    bare = []
    for page in PAGES:
        for block in re.findall(r"```sh\n(.*?)```", page.read_text(), flags=re.S):
            bare += [f"{page.name}: {line}" for line in block.splitlines()
                     if re.search(r"(^|[\s;|(])python3? -m ", line)]  # fmt: skip
    assert not bare, bare


def test_the_docs_keep_no_history() -> None:
    """Commit hashes and round-by-round notes belong in git log, not in the manual."""
    history = re.compile(
        r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b"
        r"|this round|before/after|uncommitted|another engineer"
    )
    found = [f"{p.name}: {m.group(0)}" for p in PAGES for m in history.finditer(p.read_text())]
    assert not found, found


# Paths the docs name that a fresh clone only has once a tool has made them.
GENERATED = ("bench/build/", "deploy/certs/", "build/")


def test_every_repository_path_the_docs_name_exists() -> None:
    """A moved or renamed module, test or script shows up here, not in a reader's shell."""
    top = "collector|devices|dashboards|simulator|deploy|bench|devstack|tests|config|docs"
    missing = []
    for page in PAGES:
        for token in re.findall(r"`([^`\s]+)`", page.read_text()):
            path = token.split("::")[0]
            if not re.fullmatch(rf"(?:{top})/[\w./*-]*", path) or path.startswith(GENERATED):
                continue
            if not list(ROOT.glob(path.rstrip("/"))):
                missing.append(f"{page.name}: {token}")
    assert not missing, missing
