"""The local services start and answer; `make demo` stops clean whatever stops it."""

import contextlib
import http.cookiejar
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import Influxd, Mosquitto, free_port
from devstack.demo import pick_port


def test_influx_roundtrip(influxd: Influxd, fresh_db: str) -> None:
    influxd.write(["m,station=A v=1.5 1000"], db=fresh_db)
    rows = influxd.query("SELECT v FROM m", db=fresh_db)
    assert rows == [{"time": 1000, "v": 1.5}]


def test_mosquitto_listens(mosquitto: Mosquitto) -> None:
    assert mosquitto.running
    assert mosquitto.url.startswith("mqtt://127.0.0.1:")


ROOT = Path(__file__).resolve().parents[1]
STACK = ("mosquitto", "influxd", "-m collector", "-m simulator")


def pids_of(marker: str) -> dict[int, str]:
    """Pid → command line of every live process naming `marker` (this run's data dir)."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        if marker in text:
            found[int(cmdline.parent.name)] = text.strip()
    return found


def processes_of(marker: str) -> list[str]:
    """Command lines of every live process naming `marker`."""
    return list(pids_of(marker).values())


def kill_leftovers(work: Path) -> None:
    """After a failed test: this run's processes must not outlive it."""
    for pid in pids_of(str(work)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# the collector's client id is solarwater-collector.<host>; a station gateway's is its station id
STATION_CONNECTED = re.compile(r" as (?!solarwater-collector)[A-Za-z0-9_-]+ \(")
COLLECTOR_GONE = re.compile(r"Client solarwater-collector\S* disconnected")
STATION_GONE = re.compile(r"Client (?!solarwater-collector)[A-Za-z0-9_-]+ ")


def wait_for_stack(work: Path, starter: subprocess.Popen[bytes], out: Path) -> None:
    """Until mosquitto, influxd, the collector and the simulator of this run all run."""
    deadline = time.monotonic() + 120
    broker_log = work / "mosquitto" / "mosquitto.log"
    while not (
        all(any(name in p for p in processes_of(str(work))) for name in STACK)
        and STATION_CONNECTED.search(broker_log.read_text(errors="replace"))  # fleet publishing
    ):
        assert starter.poll() is None, out.read_text(errors="replace")
        assert time.monotonic() < deadline, (processes_of(str(work)), out.read_text())
        time.sleep(0.3)


def assert_all_gone(work: Path, out: Path) -> None:
    """Nothing of the run is left, and the collector flushed and stopped on its own."""
    deadline = time.monotonic() + 60
    while processes_of(str(work)):
        assert time.monotonic() < deadline, processes_of(str(work))
        time.sleep(0.2)
    log = (work / "collector.log").read_text(errors="replace")
    assert "stopping: flushing" in log and log.rstrip().endswith("collector: stopped"), log[-800:]
    text = out.read_text(errors="replace")
    assert "stopped cleanly" in text, text[-800:]
    # the collector left the broker before the first simulated device did
    broker_log = (work / "mosquitto" / "mosquitto.log").read_text(errors="replace")
    collector_gone = COLLECTOR_GONE.search(broker_log)
    first_station_gone = STATION_GONE.search(broker_log)  # connects read "... as <id>"
    assert collector_gone is not None and first_station_gone is not None, broker_log[-2000:]
    assert collector_gone.start() < first_station_gone.start(), broker_log[-2000:]


def assert_web_page_signs_in(out: Path) -> None:
    """The printed page address and demo token sign in, and show the simulated fleet."""
    text = out.read_text(errors="replace")
    found = re.search(r"web page:\s+(http://\S+)/\s+\(sign in with the demo token (\S+)\)", text)
    assert found, text
    base, token = found.groups()
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    data = urllib.parse.urlencode({"token": token}).encode()
    with opener.open(base + "/signin", data, timeout=10) as resp:  # 303 to the list
        page = resp.read().decode()
    assert resp.url == base + "/" and page.count('class="card ') == 19, page[:2000]


def demo_args(work: Path) -> list[str]:
    # free ports: other runs on this machine may hold the usual ones
    return ["--dir", str(work), "--mqtt-port", "0", "--influx-port", "0", "--http-port", "0"]


@contextlib.contextmanager
def launched(argv: list[str], work: Path, out: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` with its output in `out`; afterwards nothing of the run in `work` survives."""
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_leftovers(work)


def demo_command(work: Path) -> list[str]:
    return [sys.executable, "-m", "devstack.demo", *demo_args(work)]


@pytest.mark.slow
def test_kill_of_make_demo_leaves_nothing_running(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    work.mkdir(mode=0o755)
    out = tmp_path / "make.out"
    # -o install: the test's venv is installed already; make must not reinstall it
    argv = ["make", "-s", "-o", "install", "demo", "DEMO_ARGS=" + " ".join(demo_args(work))]
    with launched(argv, work, out) as make:
        wait_for_stack(work, make, out)
        assert stat.S_IMODE(work.stat().st_mode) == 0o700
        make.send_signal(signal.SIGTERM)
        make.wait(90)
        assert_all_gone(work, out)


PAGE_LINE = re.compile(r"^\d\d:\d\d:\d\d (mail|sms ) to (\S+): (.+)$", re.M)
STATUS_PAGES = re.compile(r"\| pages mail +(\d+) sms +(\d+) \|")


def wait_for_pages(work: Path, demo: subprocess.Popen[bytes], out: Path) -> list[tuple[str, ...]]:
    """Until the demo's own receivers caught a page by e-mail and one by SMS, and its status
    line counts them."""
    log = work / "pages.log"
    deadline = time.monotonic() + 120
    while True:
        pages = PAGE_LINE.findall(log.read_text()) if log.exists() else []
        counted = STATUS_PAGES.findall(out.read_text(errors="replace"))
        drawn = bool(counted) and counted[-1] != ("0", "0")
        if drawn and {channel for channel, _, _ in pages} == {"mail", "sms "}:
            return pages
        assert demo.poll() is None, out.read_text(errors="replace")[-2000:]
        assert time.monotonic() < deadline, (pages, out.read_text(errors="replace")[-2000:])
        time.sleep(0.5)


@pytest.mark.slow
def test_sighup_to_the_demo_stops_it_in_order_and_its_pages_land_in_its_receivers(
    tmp_path: Path,
) -> None:
    work = tmp_path / "demo"
    out = tmp_path / "demo.out"
    # PEMBA-01's tank starts low and no link fault disconnects a station before the stop
    argv = [*demo_command(work), "--scenario", "dry-spell", "--speed", "1440"]
    with launched(argv, work, out) as demo:
        wait_for_stack(work, demo, out)
        pages = wait_for_pages(work, demo, out)
        assert_web_page_signs_in(out)
        demo.send_signal(signal.SIGHUP)
        assert demo.wait(90) == 0
        assert_all_gone(work, out)
        text = out.read_text()
        assert "stopping (SIGHUP)" in text
    # routed as the generated config says: Pemba's technician, by e-mail and SMS
    for channel, to, page in pages:
        want = "tecnico.pemba@demo.solarwater" if channel == "mail" else "+258841110001"
        assert to == want and "PEMBA-01" in page, (channel, to, page)
    counted = [tuple(map(int, m)) for m in STATUS_PAGES.findall(text)]
    mails = sum(1 for channel, _, _ in pages if channel == "mail")
    assert counted and counted[-1][0] >= mails >= 1 and counted[-1][1] >= 1, counted[-3:]
    assert "pages.log" in text  # the guide says where the pages go


@pytest.mark.slow
def test_demo_stops_everything_when_its_parent_is_killed(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    out = tmp_path / "demo.out"
    # `; true` keeps the shell as the demo's parent (no exec): the stand-in for make
    argv = ["/bin/sh", "-c", " ".join(demo_command(work)) + "; true"]
    with launched(argv, work, out) as parent:
        wait_for_stack(work, parent, out)
        parent.kill()  # SIGKILL: nothing is passed on, only the kernel's PDEATHSIG
        parent.wait(10)
        assert_all_gone(work, out)
        assert "stopping (SIGTERM)" in out.read_text()


@pytest.mark.slow
def test_sigterm_while_the_demo_starts_leaves_nothing_running(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    out = tmp_path / "demo.out"
    with launched(demo_command(work), work, out) as demo:
        deadline = time.monotonic() + 60
        while not any("mosquitto" in p for p in processes_of(str(work))):
            assert demo.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.02)
        demo.send_signal(signal.SIGTERM)  # mosquitto is up or coming up; influxd may be next
        assert demo.wait(60) == 0, out.read_text()
        assert processes_of(str(work)) == []  # stopped and waited for, not left to PDEATHSIG
        text = out.read_text()
        assert "stopping (SIGTERM)" in text and "did not start" not in text, text


def test_busy_demo_port_is_named_and_another_used(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))  # a wildcard listener holds 127.0.0.1 too
        holder.listen()
        busy = holder.getsockname()[1]
        port = pick_port(busy, "mosquitto")
        assert port != busy
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # the one picked is really free
    assert capsys.readouterr().out == f"port {busy} is busy; mosquitto uses {port}\n"
    free = free_port()
    assert pick_port(free, "influxd") == free and capsys.readouterr().out == ""
