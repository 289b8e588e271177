"""The parts of acknowledging from the phone, alone: links, SMS room, windows, technicians."""

from __future__ import annotations

import stat
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError

from collector.alerts import AlertConfigError, AlertService, AlertSettings
from collector.alerts.links import LinkRefused, LinkSigner, load_or_create_secret
from collector.alerts.messages import Messages
from collector.alerts.technician_tokens import main as technicians_cli
from collector.alerts.technicians import Technicians, TechnicianSettings, token_hash
from collector.alerts.windows import MaintenanceWindow, WindowSettings
from devices.stations import load_fleet

TZ = ZoneInfo("Africa/Maputo")
NOW = 1_780_000_000.0
BASE = "https://sw.example.org"


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=TZ).timestamp() * 1000)  # type: ignore[misc]


def test_a_link_is_short_verifies_and_refuses_forged_and_expired_ones() -> None:
    signer = LinkSigner(b"k" * 32, BASE + "/", 7 * 86400)
    url = signer.url(12345, NOW)
    assert url.startswith(f"{BASE}/a/12345.") and len(url) - len(BASE) <= 40
    token = url.rsplit("/", 1)[1]
    link = signer.verify(token, NOW + 3600)
    assert (link.alert_id, link.expires_s) == (12345, int(NOW) + 7 * 86400)
    alert, exp, sig = token.split(".")
    forged = [
        f"{alert}.{exp}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",  # signature changed
        f"12346.{exp}.{sig}",  # another alert
        f"{alert}.{exp}z.{sig}",  # a later expiry
        f"{alert}.{exp}.{sig}x",  # malformed
        LinkSigner(b"o" * 32, BASE, 60).token(12345, int(NOW) + 60),  # another secret
    ]
    for bad in forged:
        with pytest.raises(LinkRefused) as refused:
            signer.verify(bad, NOW)
        assert not refused.value.expired, bad
    with pytest.raises(LinkRefused) as refused:
        signer.verify(token, NOW + 7 * 86400)
    assert refused.value.expired
    # an expired forgery is a forgery
    with pytest.raises(LinkRefused) as refused:
        signer.verify(forged[0], NOW + 8 * 86400)
    assert not refused.value.expired
    # the form token belongs to its link
    assert signer.csrf_ok(token, signer.csrf(token))
    assert not signer.csrf_ok(token, signer.csrf(signer.token(12345, int(NOW) + 1)))


def test_the_link_secret_is_made_once_0600_unless_configured(tmp_path: Path) -> None:
    first = load_or_create_secret(None, tmp_path / "alerts")
    path = tmp_path / "alerts" / "link_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 40
    assert load_or_create_secret(None, tmp_path / "alerts") == first  # links survive restarts
    assert load_or_create_secret(SecretStr("c" * 30), tmp_path / "alerts") == b"c" * 30


def test_a_long_text_is_cut_so_the_link_stays_whole_in_one_sms() -> None:
    link = f"{BASE}/a/123.t5x9k0.AbCdEfGhIjKlMnOp"
    sms = Messages.sms("CRÍTICO Bateria crítica: " + "x" * 300, link)
    assert len(sms) == 160 and sms.endswith(".. " + link)
    assert Messages.sms("curto", link) == f"curto {link}"
    assert Messages.sms("curto") == "curto"


def test_a_weekly_window_holds_its_station_on_sundays_six_to_ten_local() -> None:
    w = MaintenanceWindow(
        WindowSettings.model_validate(
            {"station": "PEMBA-01", "days": ["sun"], "from": "06:00", "to": "10:00"}
        ),
        TZ,
    )
    # 2026-03-01 is a Sunday
    assert w.matches("PEMBA-01", "battery_low", ms(2026, 3, 1, 6, 0))
    assert w.matches("PEMBA-01", "station_silent", ms(2026, 3, 1, 9, 59))
    assert not w.matches("PEMBA-01", "battery_low", ms(2026, 3, 1, 10, 0))
    assert not w.matches("PEMBA-01", "battery_low", ms(2026, 3, 1, 5, 59))
    assert not w.matches("PEMBA-01", "battery_low", ms(2026, 3, 2, 7, 0))  # Monday
    assert not w.matches("PEMBA-02", "battery_low", ms(2026, 3, 1, 7, 0))
    assert w.matches("PEMBA-01", "battery_low", ms(2026, 3, 8, 7, 0))  # every Sunday
    night = MaintenanceWindow(
        WindowSettings.model_validate(
            {
                "station": "PEMBA-01",
                "rules": ["tank_low"],
                "days": ["sat"],
                "from": "22:00",
                "to": "02:00",
            }
        ),
        TZ,
    )
    assert night.matches("PEMBA-01", "tank_low", ms(2026, 2, 28, 23, 0))  # Saturday night
    assert night.matches("PEMBA-01", "tank_low", ms(2026, 3, 1, 1, 30))  # into Sunday
    assert not night.matches("PEMBA-01", "tank_low", ms(2026, 3, 1, 23, 0))  # Sunday night
    assert not night.matches("PEMBA-01", "battery_low", ms(2026, 2, 28, 23, 0))  # other rule


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"station": "PEMBA-01"}, "give start and end"),
        ({"station": "PEMBA-01", "days": ["sun"], "from": "06:00"}, "needs days, from and to"),
        ({"station": "PEMBA-01", "start": "2026-03-01T06:00:00+02:00"}, "needs start and end"),
        ({"station": "PEMBA-01", "days": ["dom"], "from": "06:00", "to": "07:00"}, "days.0"),
    ],
)
def test_a_window_without_its_times_is_refused(body: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError) as exc:
        WindowSettings.model_validate(body)
    assert says in str(exc.value)


def test_technicians_are_found_by_token_hash_only() -> None:
    t = TechnicianSettings(name="Ana", districts=("Pemba",), token_sha256=token_hash("swt_abc"))
    techs = Technicians((t,), None)
    found = techs.identify("swt_abc")
    assert found is not None and found.may_act_on("Pemba") and not found.may_act_on("Palma")
    assert techs.identify("swt_abd") is None


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            {"technicians": [{"name": "Ana", "districts": ["Nowhere"], "token_sha256": "0" * 64}]},
            "technician 'Ana': district 'Nowhere' is not in the fleet",
        ),
        (
            {
                "maintenance": [
                    {"station": "NOPE-01", "days": ["sun"], "from": "06:00", "to": "07:00"}
                ]
            },
            "maintenance: station 'NOPE-01' is not in the fleet",
        ),
    ],
)
def test_names_the_fleet_lacks_are_one_line_at_start(
    tmp_path: Path, extra: dict[str, object], says: str
) -> None:
    with pytest.raises(AlertConfigError) as exc:
        AlertService(
            AlertSettings.model_validate(extra), load_fleet(), tmp_path,
            write_lines=lambda lines: None, mqtt_publish=None,
        )  # fmt: skip
    assert str(exc.value) == f"alerts: {says}"


def test_the_token_cli_adds_rotates_lists_and_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "technicians.yaml"
    args = ["--file", str(path)]
    assert technicians_cli([*args, "add", "Ana"]) == 2  # a new one needs a district
    assert "needs --district" in capsys.readouterr().err
    assert technicians_cli([*args, "add", "Ana", "--district", "Pemba"]) == 0
    first = capsys.readouterr().out.strip()
    assert technicians_cli([*args, "add", "Ana"]) == 0  # rotate: districts kept
    second = capsys.readouterr().out.strip()
    techs = Technicians((), path)
    assert techs.identify(first) is None
    found = techs.identify(second)
    assert found is not None and found.districts == frozenset({"Pemba"})
    assert technicians_cli([*args, "list"]) == 0
    assert capsys.readouterr().out == "Ana: Pemba\n"
    assert technicians_cli([*args, "remove", "Ana"]) == 0
    assert technicians_cli([*args, "remove", "Ana"]) == 2
    techs.refresh()
    assert techs.identify(second) is None
