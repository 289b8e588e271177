"""The `web:` section: the technicians' pages served at `/` of the collector's HTTP API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from collector.alerts.durations import Duration

SAMPLE = """\
web:
  enabled: true
  secure_cookies: true     # false only for a plain-HTTP demo on localhost
  session_ttl: 12h
  max_sessions: 1000
  language: pt             # pt or en; each visitor can switch
  # influx_db: solarwater  # default: the v1 sink's database
"""


class WebSettings(BaseModel):
    """The technicians' pages: sessions, cookies, language and the InfluxDB they read."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Serve the technicians' pages at / (needs alerts)")
    secure_cookies: bool = Field(
        True,
        description="Session cookie only over HTTPS (set false for a plain-HTTP localhost demo)",
    )
    session_ttl: Duration = Field(
        12 * 3600.0, gt=0, description="A session ends this long after sign-in"
    )
    max_sessions: int = Field(
        1000, ge=1, le=100_000, description="Sessions held; the oldest goes when full"
    )
    language: Literal["pt", "en"] = Field("pt", description="Pages' default language")
    influx_db: str | None = Field(
        None, min_length=1, description="InfluxQL database read (default: the v1 sink's `db`)"
    )
    query_timeout_s: float = Field(5.0, gt=0, le=60, description="Timeout of one InfluxQL query")
