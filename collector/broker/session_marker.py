"""A tiny file in data_dir recording that this client id had a session on this broker."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


class SessionMarker:
    """`expected()`: an earlier run held a session here; `record()` once one is held."""

    def __init__(self, path: Path, client_id: str, broker: str) -> None:
        self.path = path
        self.key = {"client_id": client_id, "broker": broker}

    def expected(self) -> bool:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return False  # none yet (first run), or unreadable: no session to miss
        return isinstance(doc, dict) and all(doc.get(k) == v for k, v in self.key.items())

    def record(self) -> None:
        """Write atomically (rename), so a crash never leaves half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**self.key, "recorded_at": time.time()}) + "\n")
        os.replace(tmp, self.path)
