"""Grafana provisioning: the InfluxDB datasource (InfluxQL mode) and the dashboards provider."""

from __future__ import annotations

from typing import Any, Literal

from dashboards.datasource import DS_NAME, DS_TYPE, DS_UID
from devices import schema

Json = dict[str, Any]
InfluxVersion = Literal["1", "2"]

# Names of the environment variables Grafana interpolates into the provisioning file at start-up;
# the secret values never appear in a file.
TOKEN_ENV = "INFLUX_TOKEN"
USER_ENV = "INFLUX_USER"
PASSWORD_ENV = "INFLUX_PASSWORD"
FOLDER = "SolarWater"
# readings arrive every 5 minutes; a finer $__interval only draws gaps. Panels may set their own.
MIN_INTERVAL = schema.READING_INTERVAL


def datasource(url: str, database: str, version: InfluxVersion, *, auth: bool = True) -> Json:
    """The datasource provisioning document.

    InfluxDB 2.x answers InfluxQL on /query once a DBRP mapping ties `database` to the bucket;
    it authenticates with an `Authorization: Token ...` header. InfluxDB 1.x takes a user and
    password, or nothing when `auth` is off (the demo's local server has no users).
    """
    ds: Json = {
        "name": DS_NAME,
        "uid": DS_UID,
        "type": DS_TYPE,
        "access": "proxy",
        "url": url,
        "isDefault": True,
        "editable": False,
        "jsonData": {
            "version": "InfluxQL",
            "dbName": database,
            "httpMode": "POST",
            "timeInterval": MIN_INTERVAL,
        },
    }
    if version == "2":
        ds["jsonData"]["httpHeaderName1"] = "Authorization"
        ds["secureJsonData"] = {"httpHeaderValue1": f"Token ${{{TOKEN_ENV}}}"}
    elif auth:
        ds["user"] = f"${{{USER_ENV}}}"
        ds["secureJsonData"] = {"password": f"${{{PASSWORD_ENV}}}"}
    return {"apiVersion": 1, "datasources": [ds]}


def dashboards_provider(path: str) -> Json:
    """The file provider that loads the dashboard JSON from `path` (inside the Grafana host)."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "solarwater",
                "orgId": 1,
                "folder": FOLDER,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }
