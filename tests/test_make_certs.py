"""deploy/make-certs.sh: the deployment's CA and broker certificate, kept unless asked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.broker_support import MAKE_CERTS

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def run(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(MAKE_CERTS), "--out", str(out), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def sans(cert: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def verifies(out: Path) -> bool:
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-CAfile",
            str(out / "ca.crt"),
            str(out / "server.crt"),
        ],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def test_makes_a_ca_and_a_server_certificate_with_private_keys(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    done = run(out, "broker.example.org", "203.0.113.7")
    assert done.returncode == 0, done.stderr
    for key in ("ca.key", "server.key"):
        assert (out / key).stat().st_mode & 0o777 == 0o600, key
    assert verifies(out)
    names = sans(out / "server.crt")
    for name in ("DNS:mosquitto", "DNS:localhost", "DNS:broker.example.org", "203.0.113.7"):
        assert name in names, names


def test_a_second_run_keeps_the_ca_and_reissues_only_for_new_names(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert run(out, "a.example.org").returncode == 0
    ca, server = (out / "ca.crt").read_bytes(), (out / "server.crt").read_bytes()
    again = run(out, "a.example.org")
    assert again.returncode == 0 and "kept" in again.stdout
    assert (out / "ca.crt").read_bytes() == ca and (out / "server.crt").read_bytes() == server
    renamed = run(out, "b.example.org")
    assert renamed.returncode == 0
    assert (out / "ca.crt").read_bytes() == ca, "an existing CA is never replaced unasked"
    assert (out / "server.crt").read_bytes() != server and verifies(out)
    assert "DNS:b.example.org" in sans(out / "server.crt")
    forced = run(out, "--force", "b.example.org")
    assert forced.returncode == 0
    assert (out / "ca.crt").read_bytes() != ca and verifies(out)


@pytest.mark.parametrize("args", [["bad name!"], ["--days", "soon"], ["--nope"]])
def test_bad_arguments_are_one_line_and_write_nothing(tmp_path: Path, args: list[str]) -> None:
    done = run(tmp_path / "certs", *args)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "certs").exists()
