"""A running collector's own HTTP endpoints, read by the tests and the benchmarks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def health(port: int) -> dict[str, Any]:
    """GET /healthz on 127.0.0.1:port; its JSON also when the status is 503 (unhealthy)."""
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        if exc.code != 503:
            # not the collector's answer: another server holds the port
            raise RuntimeError(
                f"{url} answered {exc.code}, not the collector: {raw[:80]!r}"
            ) from exc
        body = json.loads(raw)
    return body


def metrics(port: int) -> str:
    """GET /metrics on 127.0.0.1:port (Prometheus text)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text: str = resp.read().decode()
    return text
