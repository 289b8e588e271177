"""The simulator's physics models, one module per catalogue kind: simulator/kinds/<kind>.py."""

from __future__ import annotations

import importlib

from devices.catalogue import KINDS
from devices.errors import SolarWaterError
from simulator.faults import Builder
from simulator.kinds.base import KindModel


class MissingModelError(SolarWaterError):
    """A catalogue kind without a simulator module (or one without its MODEL)."""


def load_model(kind: str) -> KindModel:
    # by name, so a new kind needs its module here and no line in this registry
    try:
        module = importlib.import_module(f"simulator.kinds.{kind}")
    except ModuleNotFoundError as exc:
        raise MissingModelError(f"kind {kind!r} has no simulator module ({exc})") from None
    model = getattr(module, "MODEL", None)
    if not isinstance(model, KindModel) or model.kind != kind:
        raise MissingModelError(f"simulator.kinds.{kind} defines no MODEL for kind {kind!r}")
    return model


MODELS: dict[str, KindModel] = {name: load_model(name) for name in KINDS}


def model_for(kind: str) -> KindModel:
    """The physics of `kind`; KeyError when the catalogue has no such kind."""
    return MODELS[kind]


def kind_scenarios() -> dict[str, Builder]:
    """The scenarios the kinds' modules bring, by name."""
    out: dict[str, Builder] = {}
    for model in MODELS.values():
        for name, builder in model.scenarios.items():
            if name in out:
                raise ValueError(f"scenario {name!r} is defined by two kinds")
            out[name] = builder
    return out
