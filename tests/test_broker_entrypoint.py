"""deploy/mosquitto/entrypoint.sh in a temporary root: which logins and TLS files a start leaves."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.broker_support import MOSQUITTO_DIR, add_station, make_certs

ENTRYPOINT = MOSQUITTO_DIR / "entrypoint.sh"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mosquitto_passwd") is None,
    reason="the entrypoint chowns to user mosquitto, as root does in the container",
)


def start(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """One container start, with /mosquitto moved to `root` and `true` in place of the broker."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MQTT_")}
    return subprocess.run(
        ["sh", str(ENTRYPOINT)],
        env=clean | {"MOSQUITTO_ROOT": str(root), "MOSQUITTO_BIN": "true"} | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def users(passwd: Path) -> list[str]:
    return [line.split(":", 1)[0] for line in passwd.read_text().splitlines() if line]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_certs(tmp_path / "certs")
    (tmp_path / "certs" / "ca.key").unlink()  # compose mounts everything but the CA's key
    return tmp_path


def test_service_logins_are_rebuilt_from_the_environment_on_every_start(root: Path) -> None:
    auth = root / "auth"
    first = start(root, MQTT_COLLECTOR_PASSWORD="pw-c", MQTT_SIMULATOR_PASSWORD="pw-s")
    assert first.returncode == 0, first.stderr
    assert users(auth / "services.passwd") == ["collector", "simulator"]
    add_station(auth / "stations.passwd", "PEMBA-01", "pa55")
    second = start(root, MQTT_COLLECTOR_PASSWORD="pw-c2")
    assert second.returncode == 0, second.stderr
    # the simulator's login is gone with its variable; the stations' file is untouched
    assert users(auth / "services.passwd") == ["collector"]
    assert users(auth / "stations.passwd") == ["PEMBA-01"]
    for f in ("services.passwd", "stations.passwd"):
        assert (auth / f).stat().st_mode & 0o077 == 0, f
    key = root / "tls" / "server.key"
    assert key.read_bytes() == (root / "certs" / "server.key").read_bytes()
    assert key.stat().st_mode & 0o077 == 0
    assert key.stat().st_uid == int(subprocess.check_output(["id", "-u", "mosquitto"]))


def test_the_old_shared_password_file_keeps_its_stations_only(root: Path) -> None:
    auth = root / "auth"
    auth.mkdir()
    (auth / "passwd").touch(mode=0o600)
    for user in ("collector", "PEMBA-01", "simulator", "IBO-01"):
        subprocess.run(["mosquitto_passwd", "-b", str(auth / "passwd"), user, "x"], check=True)
    done = start(root, MQTT_COLLECTOR_PASSWORD="pw-c")
    assert done.returncode == 0, done.stderr
    assert users(auth / "stations.passwd") == ["PEMBA-01", "IBO-01"]
    assert users(auth / "services.passwd") == ["collector"]
    assert not (auth / "passwd").exists()


@pytest.mark.parametrize("missing", ["server.key", "ca.crt", "MQTT_COLLECTOR_PASSWORD"])
def test_a_missing_certificate_or_password_is_one_clear_line(root: Path, missing: str) -> None:
    env = {"MQTT_COLLECTOR_PASSWORD": "pw-c"}
    if missing in env:
        del env[missing]
    else:
        (root / "certs" / missing).unlink()
    done = start(root, **env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0], done.stderr
    if missing != "MQTT_COLLECTOR_PASSWORD":
        assert "make-certs.sh" in lines[0]
