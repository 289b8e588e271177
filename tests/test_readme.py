"""The README stays a true manual: its configuration table matches the settings models."""

from __future__ import annotations

import socket
from pathlib import Path

from collector.config import default_client_id, load_settings
from collector.settings_doc import rows

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [f"`{dotted}`" for dotted, *_ in rows() if f"`{dotted}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}: paste collector.settings_doc"


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_example_config_is_valid() -> None:
    settings = load_settings(ROOT / "config" / "collector.example.yaml")
    assert settings.mqtt.client_id == default_client_id(socket.gethostname())
    assert settings.mqtt.client_id.startswith("solarwater-collector.")


def test_readme_is_assembled_from_its_chapters() -> None:
    """README.md is generated (docs/assemble_readme.sh): edit docs/readme/, then re-run it."""
    from collector.settings_doc import markdown

    chapters = sorted((ROOT / "docs" / "readme").glob("[1-9]*.md"))
    expected = (ROOT / "docs" / "readme" / "00-head.md").read_text() + markdown()
    for chapter in chapters:
        expected += "\n" + chapter.read_text()
    assert (ROOT / "README.md").read_text() == expected
