"""A plugin's settings validated by its own model, each error kept with its place for one line."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from devices.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Problem = tuple[tuple[str | int, ...], str]  # (place inside the plugin's section, message)


class PluginSettingsError(ConfigError):
    """A plugin section did not validate; `problems` keep their places for the config error.

    A ValueError too (through ConfigError), so pydantic reports it where the section is."""

    def __init__(self, plugin: str, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
        self.plugin = plugin
        self.problems = problems


def validate_plugin(model: type[M], values: Any, plugin: str) -> M:
    """`values` as `model`, or a PluginSettingsError naming the plugin in each message."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems: list[Problem] = [
            (tuple(e["loc"]), f"{e['msg'].removeprefix('Value error, ')} ({plugin})")
            for e in exc.errors()
        ]
        raise PluginSettingsError(plugin, problems) from None
