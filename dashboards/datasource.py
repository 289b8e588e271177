"""The one InfluxDB datasource every panel, variable and annotation queries."""

from __future__ import annotations

DS_TYPE = "influxdb"
DS_UID = "solarwater-influxdb"
DS_NAME = "SolarWater InfluxDB"


def ds_ref() -> dict[str, str]:
    """Datasource reference as Grafana 11 stores it (by uid, so renaming the datasource is safe)."""
    return {"type": DS_TYPE, "uid": DS_UID}
