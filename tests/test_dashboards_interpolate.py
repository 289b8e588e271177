"""The Grafana InfluxQL interpolation the dashboard query tests rely on."""

from __future__ import annotations

import pytest

from dashboards.interpolate import (
    InterpolationError,
    Variable,
    format_interval,
    interpolate,
    interval_ms,
    parse_duration_ms,
    regex_escape,
)

DAY_MS = 86_400_000


def run(query: str, **kw: object) -> str:
    args: dict[str, object] = {"from_ms": 1_000, "to_ms": 1_000 + DAY_MS, "max_data_points": 288}
    args.update(kw)
    return interpolate(query, **args)  # type: ignore[arg-type]


def test_time_filter_is_inclusive_milliseconds() -> None:
    assert run("WHERE $timeFilter") == f"WHERE time >= 1000ms and time <= {1_000 + DAY_MS}ms"
    assert run("WHERE $__timeFilter") == run("WHERE $timeFilter")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (300_000, "5m"),
        (86_400_000, "1d"),
        (90_000, "1m"),  # largest whole unit: Grafana truncates, it does not write 90s
        (1_500, "1s"),
        (999, "999ms"),
        (7_200_000, "2h"),
        (0, "1ms"),
    ],
)
def test_interval_is_written_in_its_largest_whole_unit(ms: int, text: str) -> None:
    assert format_interval(ms) == text


def test_interval_is_range_over_max_data_points_snapped_as_grafana_does() -> None:
    assert interval_ms(0, DAY_MS, 288, None) == 300_000
    assert interval_ms(0, DAY_MS, 1_000, None) == 60_000  # 86.4 s -> 1m (roundInterval)
    assert interval_ms(0, DAY_MS, 200, None) == 300_000  # 7.2 min -> 5m
    assert interval_ms(0, 30 * DAY_MS, 300, None) == 7_200_000  # 2.4 h -> 2h
    assert interval_ms(0, 365 * DAY_MS, 300, None) == DAY_MS  # 29.2 h -> 1d
    assert interval_ms(0, 365 * DAY_MS, 60, None) == DAY_MS  # 6.1 d -> 1d (below 1w)
    assert interval_ms(0, 365 * DAY_MS, 30, None) == 7 * DAY_MS  # 12.2 d -> 1w
    assert interval_ms(0, 10_001, 2, None) == 5_000
    assert run("time($__interval) $__interval_ms") == "time(5m) 300000"


def test_min_interval_is_a_floor() -> None:
    assert interval_ms(0, 3_600_000, 1_000, "10s") == 10_000
    assert interval_ms(0, 3_600_000, 1_000, ">1m") == 60_000
    assert run("time($__interval)", min_interval="1h") == "time(1h)"
    # a range long enough passes the floor
    assert interval_ms(0, 30 * DAY_MS, 300, "5m") == 7_200_000


def test_min_interval_may_be_a_variable() -> None:
    bucket = Variable("bucket", ("1d",))
    assert run("time($__interval)", min_interval="$bucket", variables=[bucket]) == "time(1d)"
    empty = Variable("bucket", ("",))  # no rollup set up: Grafana's own interval
    assert run("time($__interval)", min_interval="$bucket", variables=[empty]) == "time(5m)"


def test_all_with_a_custom_all_value_is_sent_as_is() -> None:
    var = Variable("station", ("a.b", "c"), multi=True, include_all=True, all_value=".*")
    assert run('"station" =~ /^$station$/', variables=[var]) == '"station" =~ /^.*$/'


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InterpolationError):
        parse_duration_ms("five minutes")
    with pytest.raises(InterpolationError):
        interval_ms(0, 1, 0, None)
    with pytest.raises(InterpolationError):
        interval_ms(10, 1, 100, None)


def test_regex_escape_covers_every_special_character() -> None:
    assert regex_escape(r"\^$*+?.()|[]{}/") == r"\\\^\$\*\+\?\.\(\)\|\[\]\{\}\/"
    assert regex_escape("PEMBA-01") == "PEMBA-01"


def test_multi_value_variable_becomes_an_escaped_alternation() -> None:
    var = Variable("station", ("PEMBA-01", "A.B", "x/y"), multi=True, include_all=True)
    assert run('"station" =~ /^$station$/', variables=[var]) == (
        r'"station" =~ /^(PEMBA-01|A\.B|x\/y)$/'
    )


def test_single_pick_of_a_multi_variable_has_no_parentheses() -> None:
    var = Variable("station", ("A.B",), multi=True)
    assert run("/^$station$/", variables=[var]) == r"/^A\.B$/"


def test_plain_variable_is_not_escaped() -> None:
    var = Variable("db", ("solar.water",))
    assert run("$db ${db} [[db]]", variables=[var]) == "solar.water solar.water solar.water"


def test_unknown_variables_and_fill_pass_through() -> None:
    query = "SELECT mean(x) FROM m WHERE $timeFilter GROUP BY time(1m) fill(previous) $nope"
    out = run(query)
    assert out.endswith("fill(previous) $nope")
    assert "$timeFilter" not in out


def test_interval_ms_is_not_mistaken_for_interval() -> None:
    assert run("$__interval_ms/$__interval") == "300000/5m"
