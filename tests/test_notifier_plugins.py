"""Notifier plugins own their settings: every sample validates and builds its notifier."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collector.alerts.notifiers import (
    NOTIFIERS,
    NotifierContext,
    NotifierSettings,
    build_notifier,
)
from collector.config import ConfigError, load_settings

CTX = NotifierContext(prefix="solarwater", mqtt_publish=lambda topic, body, qos, retain: None)


@pytest.mark.parametrize("kind", sorted(NOTIFIERS))
def test_every_notifier_sample_validates_and_builds(kind: str, tmp_path: Path) -> None:
    plugin = NOTIFIERS[kind]
    sample = yaml.safe_load(plugin.sample)
    entries = sample["alerts"]["notifiers"]
    assert len(entries) == 1 and next(iter(entries.values()))["type"] == kind
    cfg = tmp_path / "sample.yaml"
    cfg.write_text(plugin.sample)
    settings = load_settings(cfg)  # the whole collector config, as an operator would load it
    (name, ns), *_ = settings.alerts.notifiers.items()
    assert type(ns) is plugin.settings and ns.type == kind
    notifier = build_notifier(name, ns, CTX)
    assert notifier.name == name


def test_only_email_needs_addresses() -> None:
    needs = {kind for kind, p in NOTIFIERS.items() if p.settings.needs_emails}
    assert needs == {"email"}
    assert NotifierSettings.needs_emails is False


def test_a_notifier_setting_of_another_type_is_refused_in_one_line() -> None:
    bad = {"alerts.notifiers": {"board": {"type": "mqtt", "url": "https://x"}}}
    with pytest.raises(ConfigError) as err:
        load_settings(None, bad)
    assert str(err.value) == (
        "config error: alerts.notifiers.board.url: Extra inputs are not permitted (type mqtt)"
    )
