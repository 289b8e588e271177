"""The maintenance windows in force: the config's, and those made through the API (on disk)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from collector.alerts import actions
from collector.alerts.actions import Action
from collector.alerts.store import AlertStore
from collector.alerts.windows import MaintenanceWindow, WindowSettings


class Maintenance:
    """Answers whether a window holds a station's rule now; adds and removes API windows.

    The list changes only between awaits, and `holds` never awaits, so an evaluation always
    sees a whole list; the store's one thread orders the writes.
    """

    def __init__(
        self,
        configured: tuple[WindowSettings, ...],
        tz: ZoneInfo,
        store: AlertStore,
        clock: Callable[[], float],
    ) -> None:
        self.tz = tz
        self.store = store
        self.clock = clock
        self.windows = [MaintenanceWindow(w, tz) for w in configured]

    def load(self, s: AlertStore) -> None:
        """Add the API's windows (in the store's thread, at start)."""
        self.windows += [MaintenanceWindow(w, self.tz, i) for i, w in actions.windows(s)]

    def holds(self, station: str, rule: str, now_ms: int) -> bool:
        return any(w.matches(station, rule, now_ms) for w in self.windows)

    def find(self, window_id: int) -> MaintenanceWindow | None:
        return next((w for w in self.windows if w.id == window_id), None)

    async def add(self, w: WindowSettings, by: str, via: str) -> MaintenanceWindow:
        now = int(self.clock() * 1000)

        def add(s: AlertStore) -> int:
            wid = actions.add_window(s, w, now, by)
            actions.record(s, Action(0, now, "window", by, via, window_id=wid,
                                     station=w.station, comment=w.comment))  # fmt: skip
            return wid

        window = MaintenanceWindow(w, self.tz, await self.store.call(add))
        self.windows.append(window)
        return window

    async def delete(self, window_id: int, by: str, via: str) -> bool:
        now = int(self.clock() * 1000)
        gone = self.find(window_id)
        station = gone.s.station if gone else None

        def delete(s: AlertStore) -> bool:
            found = actions.delete_window(s, window_id)
            if found:
                actions.record(s, Action(0, now, "unwindow", by, via, window_id=window_id,
                                         station=station))  # fmt: skip
            return found

        found = await self.store.call(delete)
        self.windows = [w for w in self.windows if w.id is None or w.id != window_id]
        return found
