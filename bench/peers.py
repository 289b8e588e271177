"""`python -m bench.peers`: the collector's QoS 1 load through Node-RED + node-red-contrib-influxdb.

One run measures the broker's QoS 1 limit, Node-RED's flow (mqtt in, QoS 1 -> function
building an InfluxDB point -> join into batches -> influxdb batch, v1 /write) and our
collector, so every ratio printed is a same-run ratio. Node-RED's MQTT client acknowledges
QoS 1 on receipt, before the write: it is a throughput peer, not a delivery-guarantee peer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench.collector_bench import end_to_end
from bench.ctools import BuildError
from bench.limits import broker_rate
from bench.nodered.e2e import PeerRun, nodered_end_to_end
from bench.nodered.install import InstallError, ensure_installed, node_binary, pinned_versions
from bench.peers_summary import Round, as_json, table
from bench.report import Figure, line
from bench.stack import Stack, temp_root

NODERED = "Node-RED"
ROOT = Path(__file__).resolve().parents[1]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.peers",
        description="Node-RED + node-red-contrib-influxdb against the broker limit and the "
        "collector, measured in the same run.",
    )
    p.add_argument("--messages", type=int, default=100_000, help="QoS 1 messages per e2e run")
    p.add_argument(
        "--rounds", type=int, default=1, help="repeat broker/Node-RED/collector; report medians"
    )
    p.add_argument("--quick", action="store_true", help="a fifth of the load (smoke run)")
    p.add_argument(
        "--workers", default="1", help="collector worker counts to compare (default 1: one process)"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=5000,
        help="points per InfluxDB write in the Node-RED flow (the collector's default batch)",
    )
    p.add_argument(
        "--flush",
        type=float,
        default=0.5,
        help="seconds before a partial Node-RED batch is written (the collector's default)",
    )
    p.add_argument(
        "--collector-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the collector, e.g. SOLARWATER_INFLUX__BATCH_SIZE=500",
    )
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    return p


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


def collector_version() -> str:
    """The commit the collector ran from, and whether collector/ had uncommitted changes."""
    git = ["git", "-C", str(ROOT)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "collector"], capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" + uncommitted changes in collector/" if dirty.stdout else "")


def parse_env(items: list[str]) -> dict[str, str] | None:
    """KEY=VALUE pairs, or None when one has no `=`."""
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return None
        env[key] = value
    return env


def nodered_figures(r: PeerRun, broker: float | None, label: str) -> list[Figure]:
    delivered = f"all {r.sent:,} landed" if r.lost == 0 else f"LOST {r.lost:,} of {r.sent:,}"
    note = (
        f"{delivered}; {r.cpu_s / max(r.landed, 1) * 1e6:.0f} µs CPU/reading; "
        f"publisher had every PUBACK after {r.acked_s:.1f} s, when "
        f"{r.sent - r.written_at_ack:,} acked readings were not yet in InfluxDB"
    )
    if r.errors:
        note += f"; {len(r.errors)} error lines in the log"
    return [
        Figure(f"{label} e2e, 1 reading/msg", r.rate, "readings/s", "broker", broker, note=note),
        Figure(f"{label} peak RSS", r.peak_rss_mb, "MB", note="VmHWM of the node process"),
    ]


def one_round(
    stack: Stack,
    root: Path,
    title: str,
    *,
    node: str,
    red_js: Path,
    messages: int,
    workers_list: list[int],
    batch_size: int,
    flush_s: float,
    label: str,
    collector_env: dict[str, str],
) -> Round:
    """Broker limit, then Node-RED, then the collector: each figure printed as it is measured."""
    print(f"[{title}: broker] load {loadavg()}", flush=True)
    broker = broker_rate(stack, messages * 2)
    print(line(Figure("broker QoS 1 -> C subscriber", broker, "msg/s")), flush=True)
    print(f"[{title}: node-red] load {loadavg()}", flush=True)
    peer = nodered_end_to_end(
        stack,
        root / "nodered",
        node=node,
        red_js=red_js,
        messages=messages,
        batch_size=batch_size,
        flush_s=flush_s,
    )
    for fig in nodered_figures(peer, broker, label):
        print(line(fig), flush=True)
    result = Round(broker, peer)
    for workers in workers_list:
        print(f"[{title}: collector --workers {workers}] load {loadavg()}", flush=True)
        ours = end_to_end(
            stack,
            root / f"collector-w{workers}",
            messages=messages,
            workers=workers,
            extra_env=collector_env,
        )
        result.ours[workers] = ours
        rate = Figure(
            f"collector e2e, 1 reading/msg, --workers {workers}",
            ours.rate,
            "readings/s",
            NODERED,
            peer.rate,
            note=f"{ours.rate / broker:.2f}x broker; acks after the durable write; "
            f"{ours.cpu_s / ours.readings * 1e6:.0f} µs CPU/reading",
        )
        rss = Figure(
            f"collector peak RSS, --workers {workers}",
            max(ours.peak_rss_mb),
            "MB",
            NODERED,
            peer.peak_rss_mb,
            note="VmHWM, largest worker",
        )
        print(line(rate) + "\n" + line(rss), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        workers_list = [int(w) for w in args.workers.split(",")]
    except ValueError:
        print("bench.peers: --workers takes a comma-separated list of integers, e.g. 1,2")
        return 2
    if min(args.messages, args.batch_size, args.rounds, *workers_list) < 1 or args.flush <= 0:
        print(
            "bench.peers: --messages, --rounds, --batch-size, --workers, --flush must be positive"
        )
        return 2
    collector_env = parse_env(args.collector_env)
    if collector_env is None:
        print("bench.peers: --collector-env takes KEY=VALUE")
        return 2
    scale = 0.2 if args.quick else 1.0
    messages = max(1, int(args.messages * scale))
    try:
        node = node_binary()
        red_js = ensure_installed()
    except InstallError as exc:
        print(f"bench.peers: {exc}")
        return 2
    versions = ", ".join(f"{k} {v}" for k, v in pinned_versions().items())
    label = f"Node-RED + node-red-contrib-influxdb (batches of {args.batch_size})"
    root, holder = temp_root(args.keep)
    try:
        stack = Stack(root)
    except BuildError as exc:
        print(f"bench.peers: {exc}")
        return 2
    print(
        f"bench.peers: {platform.node()}, {os.cpu_count()} CPUs, load {loadavg()}, "
        f"{versions}, {messages:,} messages, folder {root}",
        flush=True,
    )
    version = collector_version()
    env_text = " ".join(f"{k}={v}" for k, v in collector_env.items())
    print(f"bench.peers: collector at {version}{' with ' + env_text if env_text else ''}")
    rounds: list[Round] = []
    failed = False
    t0 = time.monotonic()
    try:
        stack.start()
        for i in range(1, args.rounds + 1):
            rounds.append(
                one_round(
                    stack,
                    root / f"round{i}",
                    f"round {i}/{args.rounds}",
                    node=node,
                    red_js=red_js,
                    messages=messages,
                    workers_list=workers_list,
                    batch_size=args.batch_size,
                    flush_s=args.flush,
                    label=label,
                    collector_env=collector_env,
                )
            )
    except Exception as exc:
        failed = True
        print(f"bench.peers: failed: {exc}", file=sys.stderr, flush=True)
    finally:
        stack.stop()
        if holder is not None:
            holder.cleanup()
    print(f"\nbench.peers took {time.monotonic() - t0:.0f} s, load at the end {loadavg()}\n")
    if rounds:
        print(table(rounds, workers_list, label))
    if args.json:
        data = {
            "meta": {
                "messages": messages,
                "cpus": os.cpu_count(),
                "load_end": loadavg(),
                "versions": versions,
                "collector": version,
                "collector_env": collector_env,
                "batch_size": args.batch_size,
                "flush_s": args.flush,
            },
            "rounds": as_json(rounds),
        }
        args.json.write_text(json.dumps(data, indent=2))
    return 1 if failed or not rounds else 0


if __name__ == "__main__":
    sys.exit(main())
