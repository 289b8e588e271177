"""The hourly rollup set up on a test database, as `python -m collector.store.rollup setup` does."""

from __future__ import annotations

from collector.store.rollup.client import InfluxQLClient
from collector.store.rollup.plan import Plan
from collector.store.rollup.setup import default_rp, setup
from devstack import Influxd


def rollup_plan(influxd: Influxd, db: str, **settings: str) -> tuple[InfluxQLClient, Plan]:
    client = InfluxQLClient(influxd.url, db)
    return client, Plan(db=db, raw_rp=default_rp(client), **settings)


def set_up_rollup(influxd: Influxd, db: str, raw_retention: str = "INF") -> Plan:
    """Policies, CQs and `$rp` on `db`; raw kept for ever by default (test data is old)."""
    client, plan = rollup_plan(influxd, db, raw_retention=raw_retention)
    setup(client, plan)
    return plan
