"""The cached fast path of Reading.to_line writes exactly what encode_line writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.ingest.readings import Reading
from devices.lineprotocol import encode_line

ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    ids,
)


@given(
    station=ids,
    device=ids,
    district=st.one_of(st.none(), ids),
    fields=st.dictionaries(ids.filter(bool), values, min_size=1, max_size=6),
    ts=st.integers(min_value=0, max_value=2**53),
)
def test_to_line_matches_encode_line(
    station: str, device: str, district: str | None, fields: dict[str, object], ts: int
) -> None:
    reading = Reading(station, district, "solar", device, ts, None, fields)  # type: ignore[arg-type]
    tags = {"station": station, "device": device, "district": district}
    try:
        expected = encode_line("solar", tags, fields, ts)  # type: ignore[arg-type]
    except ValueError:
        # what InfluxDB cannot store is refused the same way on the fast path
        with pytest.raises(ValueError):
            reading.to_line()
        return
    assert reading.to_line() == expected


def test_escaping_of_tags_and_string_fields() -> None:
    reading = Reading("A B", "x,y", "solar", "d=1", 5, None, {"charge_state": 'a"b', "e": 3})
    assert (
        reading.to_line()
        == 'solar,device=d\\=1,district=x\\,y,station=A\\ B charge_state="a\\"b",e=3i 5'
    )
