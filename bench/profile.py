"""`python -m bench.profile`: py-spy on the collector under the end-to-end load; prints the top.

Needs py-spy in the venv (`pip install py-spy`); writes the collapsed stacks next to
the summary so a flame graph can be drawn from them later.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.collector_bench import _count, _start
from bench.ctools import publish_cmd
from bench.stack import Stack, temp_root

# Leaf frames that are a thread waiting in select(): idle, not work.
IDLE_LEAVES = ("EpollSelector.select (", "Client._loop (paho/mqtt/client.py")


def _function(frame: str) -> str:
    """`name (file:line)` -> `name (file)`, so lines of one function add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else frame


def summarize(collapsed: Path, top: int) -> str:
    """Self and inclusive shares of busy samples per function, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = idle = 0
    for row in collapsed.read_text().splitlines():
        stack, _, n_text = row.rpartition(" ")
        n = int(n_text)
        frames = stack.split(";")
        total += n
        if frames[-1].startswith(IDLE_LEAVES):
            idle += n
            continue
        threads[frames[0].split(": ", 1)[-1]] += n
        own[_function(frames[-1])] += n
        for frame in {_function(f) for f in frames[1:]}:
            incl[frame] += n
    busy = total - idle
    out = [f"{total} samples, {idle} idle in select(), {busy} busy", ""]
    out += [f"{100 * n / busy:6.1f}% of busy  thread {t}" for t, n in threads.most_common()]
    out += ["", "self %  | function (file)"]
    out += [f"{100 * n / busy:6.1f}  | {f}" for f, n in own.most_common(top)]
    out += ["", "total % | function (file)"]
    out += [f"{100 * n / busy:6.1f}  | {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=1, help="readings per message")
    p.add_argument("--stations", type=int, default=100, help="distinct station ids")
    p.add_argument("--workers", type=int, default=1, help="collector worker processes")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--out", type=Path, default=Path("bench/build/profile"))
    args = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("bench.profile: py-spy is not installed (.venv/bin/pip install py-spy)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    root, holder = temp_root(False)
    stack = Stack(root)
    stack.start()
    try:
        cut, db, prefix = _start(stack, root / "profile", args.workers)
        options = ["--format", "raw", "--threads", "--rate", "200", "--nonblocking"]
        outputs = [args.out / f"worker{i}.collapsed" for i in range(len(cut.pids()))]
        records = [
            subprocess.Popen(
                [spy, "record", "--pid", str(pid), *options, "-o", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid, out in zip(cut.pids(), outputs, strict=True)
        ]
        time.sleep(1)
        mq = stack.mosquitto
        cmd = publish_cmd(
            stack.tools["swpub"],
            mq.host,
            mq.port,
            prefix,
            args.messages,
            batch=args.batch,
            stations=args.stations,
        )
        pub = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        want = args.messages * args.batch
        while _count(stack, db) < want:
            time.sleep(0.2)
        pub.wait()
        for record in records:
            record.send_signal(2)
            record.wait(30)
        cut.stop()
        texts = [f"== worker {i}\n{summarize(out, args.top)}" for i, out in enumerate(outputs)]
        text = "\n\n".join(texts)
        (args.out / "summary.txt").write_text(text)
        print(text)
    finally:
        stack.stop()
        if holder is not None:
            holder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
