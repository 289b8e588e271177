"""The local services start and answer."""

from devstack import Influxd, Mosquitto


def test_influx_roundtrip(influxd: Influxd, fresh_db: str) -> None:
    influxd.write(["m,station=A v=1.5 1000"], db=fresh_db)
    rows = influxd.query("SELECT v FROM m", db=fresh_db)
    assert rows == [{"time": 1000, "v": 1.5}]


def test_mosquitto_listens(mosquitto: Mosquitto) -> None:
    assert mosquitto.running
    assert mosquitto.url.startswith("mqtt://127.0.0.1:")
