"""Ports handed out by devstack.ports: never twice, to any process, while reserved."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack import ports

PICKER = "from devstack.ports import free_port_block as f; print(*(f(2) for _ in range(20)))"


def test_processes_picking_at_once_never_pick_alike() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    procs = [
        subprocess.Popen([sys.executable, "-c", PICKER], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(4)
    ]
    bases = [int(p) for proc in procs for p in proc.communicate(timeout=60)[0].split()]
    taken = [b + i for b in bases for i in range(2)]
    assert len(bases) == 80
    assert len(set(taken)) == len(taken)


def test_xdist_workers_pick_in_their_own_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    lo, hi = ports.BLOCK_RANGE
    seen = []
    for i in range(3):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{i}")
        a, b = ports._slice()
        seen.append((a, b))
        assert lo <= a < b <= hi
        assert a <= ports.free_port() < b
    assert seen[0][1] <= seen[1][0] and seen[1][1] <= seen[2][0]
