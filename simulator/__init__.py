"""Station simulator: a deterministic physics model and an MQTT publisher with faults."""

from simulator.config import SimulationConfig
from simulator.runner import run_simulation
from simulator.station_model import StationModel
from simulator.summary import RecordedReading, Summary

__all__ = ["RecordedReading", "SimulationConfig", "StationModel", "Summary", "run_simulation"]
