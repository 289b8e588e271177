"""Configuration: file < environment < command line, and one-line errors for every mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_defaults_are_sane() -> None:
    s = load_settings()
    assert s.mqtt.url == "mqtt://localhost:1883" and s.mqtt.prefix == "solarwater"
    assert s.influx.api == "v1" and s.influx.db == "solarwater"
    assert s.http.listen == "127.0.0.1:8080"  # localhost only unless asked


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("influx:\n  db: from_file\n  batch_size: 10\nmqtt:\n  prefix: fileprefix\n")
    monkeypatch.setenv("SOLARWATER_INFLUX__BATCH_SIZE", "20")
    monkeypatch.setenv("SOLARWATER_INFLUX__DB", "from_env")
    s = load_settings(cfg, {"influx.db": "from_cli"})
    assert s.influx.db == "from_cli"
    assert s.influx.batch_size == 20
    assert s.mqtt.prefix == "fileprefix"


def test_secret_from_env_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLARWATER_INFLUX__TOKEN", "tok-123-secret")
    s = load_settings()
    assert s.influx.token is not None
    assert s.influx.token.get_secret_value() == "tok-123-secret"
    assert "tok-123-secret" not in repr(s) and "tok-123-secret" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("influx:\n  bogus: 1\n", "influx.bogus: Extra inputs are not permitted"),
        ("influx:\n  batch_size: 0\n", "influx.batch_size"),
        ("influx:\n  api: v3\n", "influx.api"),
        ("mqtt:\n  url: http://broker\n", "mqtt.url: MQTT URL must start with mqtt://"),
        ("http:\n  listen: nowhere\n", "http.listen: must be HOST:PORT"),
        ("topthing: 1\n", "topthing: Extra inputs are not permitted"),
        ("- just a list\n", "expected a mapping"),
        ("influx: [\n", "not valid YAML"),
    ],
)
def test_config_mistakes_are_one_line(tmp_path: Path, yaml_text: str, expected: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_secrets_are_refused_in_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("influx:\n  token: abc-secret-value\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "SOLARWATER_INFLUX__TOKEN" in str(err.value)
    assert "abc-secret-value" not in str(err.value)
    (tmp_path / "tok").write_text("abc-secret-value\n")
    cfg.write_text(f"influx:\n  api: v2\n  org: o\n  token_file: {tmp_path / 'tok'}\n")
    assert load_settings(cfg).influx.token_file == tmp_path / "tok"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(tmp_path / "absent.yaml")


def test_cli_errors_have_no_traceback(tmp_path: Path) -> None:
    cases = [
        (["--mqtt-url", "http://x"], {}),
        (["--check-config"], {"SOLARWATER_INFLUX__BATCH_SIZE": "-3"}),
        (["--check-config"], {"SOLARWATER_INFLUX__BATCHSIZE": "3"}),
        (["--fleet", str(tmp_path / "none.yaml"), "--check-config"], {}),
        (["--config", str(tmp_path / "none.yaml")], {}),
        (["--influx-api", "v2", "--check-config"], {}),
    ]
    for args, env in cases:
        proc = run_cli(*args, env=env)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("collector: ")


def test_cli_check_config_ok() -> None:
    proc = run_cli("--check-config")
    assert proc.returncode == 0, proc.stderr
    assert "19 stations" in proc.stdout
