"""Local, throw-away Mosquitto and InfluxDB processes for tests, the demo and benchmarks."""

from devstack.influxd import Influxd
from devstack.mosquitto import Mosquitto
from devstack.ports import free_port

__all__ = ["Influxd", "Mosquitto", "free_port"]
