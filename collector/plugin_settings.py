"""A plugin's settings validated by its own model, each error kept with its place for one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from devices.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
M_co = TypeVar("M_co", bound=BaseModel, covariant=True)
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


class _HasSettings(Protocol[M_co]):
    @property
    def settings(self) -> type[M_co]: ...


def validate_chosen(
    registry: Mapping[str, _HasSettings[M]],
    key: str,
    values: dict[str, Any],
    default: str | None,
    noun: str,
    label: str,
) -> M:
    """A section whose `key` names its plugin in `registry`, validated by that plugin's model.

    `noun` names the choice in "unknown ..." and `label` the plugin in each other message."""
    choice = values.get(key, default)
    plugin = registry.get(choice) if isinstance(choice, str) else None
    if plugin is None:
        known = ", ".join(sorted(registry))
        raise PluginSettingsError(
            str(choice), [((key,), f"unknown {noun} {choice!r}; known: {known}")]
        )
    return validate_plugin(plugin.settings, {**values, key: choice}, f"{label} {choice}")
