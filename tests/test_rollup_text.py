"""The 2.x Flux tasks and 3.x SQL of the rollup, as text (no InfluxDB 2 or 3 server here)."""

from __future__ import annotations

import re

import pytest

from collector.store.rollup.cli import main as rollup_main
from collector.store.rollup.flux import flux_task, sql_v3
from collector.store.rollup.plan import aggregates
from devices.catalogue import KINDS


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_flux_task_writes_the_fields_the_cq_writes(kind_name: str) -> None:
    kind = KINDS[kind_name]
    text = flux_task(kind, "raw", "hourly", "36h")
    assert "range(start: -36h)" in text and f'r._measurement == "{kind.measurement}"' in text
    sets = [re.findall(r'"(\w+)"', s) for s in re.findall(r"set: \[([^\]]*)\]", text)]
    numbers = [n for n in kind.field_names if n not in kind.str_fields]
    # every field once under its own name, then four suffixed copies of every number
    assert sorted(n for s in sets[:-4] for n in s) == sorted(kind.field_names)
    assert sets[-4:] == [numbers] * 4
    assert text.count('to(bucket: "hourly")') == len(sets)
    written = {m.split(" AS ")[1].strip('"') for m in aggregates(kind)}  # the 1.x CQ's fields
    suffixed = {f"{n}_{a}" for n in numbers for a in ("mean", "min", "max", "last")}
    assert written == set(kind.field_names) | suffixed


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_sql3_selects_every_rollup_field(kind_name: str) -> None:
    kind = KINDS[kind_name]
    text = sql_v3(kind, "48h")
    written = {m.split(" AS ")[1].strip('"') for m in aggregates(kind)}
    assert set(re.findall(r'AS "(\w+)"', text)) == written
    assert "INTERVAL '48 hours'" in text and "date_bin(INTERVAL '1 hour', time)" in text


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_the_daily_texts_bin_local_days(kind_name: str) -> None:
    kind = KINDS[kind_name]
    flux = flux_task(kind, "raw", "daily", "24h", daily=True)
    assert "every: 1d, offset: -2h" in flux and "range(start: -48h)" in flux
    assert f'name: "rollup_1d_{kind_name}"' in flux
    sql = sql_v3(kind, "24h", daily=True)
    assert "date_bin(INTERVAL '1 day', time, TIMESTAMP '1970-01-01T22:00:00Z')" in sql
    assert set(re.findall(r'AS "(\w+)"', sql)) == set(re.findall(r'AS "(\w+)"', sql_v3(kind, "1h")))


def test_the_cli_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert rollup_main(["flux", "--bucket", "b"]) == 0
    assert capsys.readouterr().out.count("option task") == 2 * len(KINDS)  # hourly, daily
    assert rollup_main(["sql3"]) == 0
    assert capsys.readouterr().out.count("SELECT date_bin") == 2 * len(KINDS)
    assert rollup_main(["flux", "--resample-for", "soon"]) == 2
