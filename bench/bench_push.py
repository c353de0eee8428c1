"""The attached dashboard on the server's push stream: key-to-screen latency attached against --local, idle CPU.

    .venv/bin/python bench/bench_push.py [--repeat 2] [--presses 40] [--idle 30] [--only latency idle]

1. Key-to-screen latency with 10,000 thread jobs running at about 1,000 state changes a second. The dashboard in
   this process (headless `run_test`), either with its engine here (`--local`, the baseline) or attached to a
   server process running the same deck. Timed from posting the key as the terminal driver would until a frame
   showing its effect goes to the terminal: `p` on the last queued job (it pauses, then resumes: a command that
   goes to the engine) and `j`/`k` in the growing Finished pane (the dashboard alone). The effect is looked for
   as each frame goes out, not by a loop polling beside the dashboard (which added its own wake-ups, and, when
   it saw the effect only after the loop had drawn it, waited for a later frame: up to 0.4 s at a busy
   dashboard's pace of redraws). Before each timed key, the bench's own moves (focusing the pane, sending the
   cursor to the end) are waited out until a frame has shown them, as a person sees the pane before pressing a
   key. The presses of `p` come first, then those of `j`/`k`, with one change of focus between them (see
   measure_keys). Rounds alternate local and attached, each on a fresh deck (targets: attached median within
   1.2x of local's, worst under 100 ms).
2. Idle CPU, from /proc/PID/stat over `--idle` seconds: a server with no decks; then, once 10,000 jobs have
   finished in it, the server alone, the server with a `jobdeck attach` in a pseudo-terminal, that dashboard,
   and a `jobdeck --local` dashboard holding the same jobs (targets: the server and the attached dashboard under
   1% of a core each).

Each server and dashboard process is started with this interpreter and its path (`-m runner...`), in the scratch
folder (`python -m` puts the current folder first on the path: started from a checkout, that checkout's own
`runner` would shadow the one PYTHONPATH names), so the code before can be measured the same way:
`PYTHONPATH=<a checkout> .venv/bin/python bench/bench_push.py` measures that checkout in every process.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from _common import toml_list, write_deck
from textual import events

import runner
from runner.model import JobState
from runner.server.client import Client, ensure_server, stop_server
from runner.server.remote import RemoteEngine
from tui.app import JobdeckApp
from tui.panes import Pane

JOBS = 10_000
TASKS = "import time\n\n\ndef nap(seconds):\n    time.sleep(seconds)\n"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TERMINAL = {"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
FINISHED = tuple(state for state in JobState if state.finished)


def busy_deck(folder: Path, name: str, nap: float) -> Path:
    (folder / "bench_push_tasks.py").write_text(TASKS)
    return write_deck(
        folder,
        name,
        f'[deck]\nname = "{name}"\nthread_limit = 8\n\n[[job]]\nname = "nap"\ncall = "bench_push_tasks:nap"\n'
        f'on = "thread"\nargs = [{nap}]\neach = {toml_list(range(JOBS))}\n',
    )


# --- key latency ------------------------------------------------------------------------------------------------


class Latencies:
    def __init__(self) -> None:
        self.command: list[float] = []
        self.move: list[float] = []
        self.changes_per_s: list[float] = []


async def measure_keys(app: JobdeckApp, presses: int, into: Latencies) -> None:
    """Time `presses` presses of `p` and of `j`/`k` while the deck runs (see the module's docstring)."""
    frames: list[float] = []
    waiting: list[tuple[Callable[[], bool], anyio.Event, list[float]]] = []
    """A timed key's test of its effect, checked as each frame goes out: a frame going out when it holds was
    drawn after the effect (the effect and the drawing both happen on the event loop), so it shows it."""
    commanded: list[str] = []
    async with app.run_test(size=(120, 40)):
        display = app._display
        show_commanded = app._show_commanded

        def timed_display(screen: object, renderable: object) -> None:
            if renderable is not None:
                now = time.perf_counter()
                frames.append(now)
                for effect_shown, seen, at in list(waiting):
                    if effect_shown():
                        at.append(now)
                        seen.set()
                        waiting.remove((effect_shown, seen, at))
            display(screen, renderable)  # type: ignore[arg-type]

        def noted_show_commanded(job_id: str) -> None:
            show_commanded(job_id)
            commanded.append(job_id)

        app._display = timed_display  # type: ignore[method-assign]
        app._show_commanded = noted_show_commanded  # type: ignore[method-assign]
        while app.engine is None or len(app.job_list(Pane.FINISHED).jobs) < 50:
            await anyio.sleep(0.05)
        engine = app.engine
        finished_before, started = sum(engine.counts()[state] for state in FINISHED), time.perf_counter()

        async def timed(key: str, effect_shown: Callable[[], bool]) -> float:
            """From posting the key until the first frame drawn after its effect has gone out."""
            seen, at = anyio.Event(), []
            waiting.append((effect_shown, seen, at))
            sent = time.perf_counter()
            app.post_message(events.Key(key, key if len(key) == 1 else None))
            with anyio.move_on_after(2):
                await seen.wait()
            return (at[0] if at else time.perf_counter()) - sent

        async def until(condition: Callable[[], bool]) -> None:
            deadline = time.perf_counter() + 5
            while not condition() and time.perf_counter() < deadline:
                await anyio.sleep(0.001)

        async def shown() -> None:
            """Until a frame drawn from now on has gone out: what the test did before the key (a focus change,
            the cursor sent to the end) is on the screen, as it is for a person before they press the key."""
            now = time.perf_counter()
            await until(lambda: bool(frames) and frames[-1] > now)

        def command_shown(job_id: str, state: JobState) -> Callable[[], bool]:
            """The command's effect on the job's row is drawn: the dashboard has shown the commanded job (its
            one-row redraw after the engine's answer) in its new state."""
            return lambda: job_id in commanded and engine.jobs[job_id].state is state

        queued, done = app.job_list(Pane.QUEUED), app.job_list(Pane.FINISHED)
        # The presses of each key together, with one change of focus before them: each change re-applies the
        # panes' styles, and Textual's virtual nodes for them become cyclic garbage (some 1,800 objects a
        # change), whose full collection later stopped the dashboard for 0.3-0.4 s at two changes a second.
        queued.focus()
        await until(lambda: app.focused is queued)
        for _ in range(presses):
            if app.model.count(Pane.QUEUED) < 1000:
                break  # keep the load on while measuring
            app.post_message(events.Key("end", None))  # untimed: Pilot.press would wait for the app to be idle
            await until(lambda: queued.jobs and queued.cursor == len(queued.jobs) - 1)
            await shown()
            target = app.selected_job
            assert target is not None and target.state is JobState.QUEUED, "the last queued job is selected"
            job_id = target.id
            commanded.clear()
            into.command.append(await timed("p", command_shown(job_id, JobState.PAUSED)))
            await anyio.sleep(0.05)
            commanded.clear()
            into.command.append(await timed("p", command_shown(job_id, JobState.QUEUED)))
            await anyio.sleep(0.05)
        done.focus()
        await until(lambda: app.focused is done)
        await shown()
        for number in range(presses):
            if app.model.count(Pane.QUEUED) < 1000:
                break
            cursor = done.cursor
            into.move.append(await timed(("j", "k")[number % 2], lambda cursor=cursor: done.cursor != cursor))
            await anyio.sleep(0.05)
            await shown()
        finished = sum(engine.counts()[state] for state in FINISHED) - finished_before
        into.changes_per_s.append(2 * finished / (time.perf_counter() - started))  # running, then finished
        app._display = display  # type: ignore[method-assign]
        app._show_commanded = show_commanded  # type: ignore[method-assign]
        await engine.pause_all()
        await app.stop_engine()  # local: the jobs are cancelled; attached: the server is stopped too


async def local_round(folder: Path, presses: int, into: Latencies) -> None:
    from runner.deck.parser import load_deck

    app = JobdeckApp([load_deck(busy_deck(folder, "local", 0.012))])
    await measure_keys(app, presses, into)


async def attached_round(folder: Path, socket_path: Path, presses: int, into: Latencies, number: int) -> None:
    deck = busy_deck(folder, f"attached{number}", 0.012)
    async with await ensure_server(socket_path, log_path=folder / "server.log") as client:
        await client.request("load", path=str(deck), environ=dict(os.environ))
    app = JobdeckApp(files=[], engine_factory=lambda: RemoteEngine(socket_path, start_server=False))
    await measure_keys(app, presses, into)


def report_latency(local: Latencies, attached: Latencies) -> None:
    for what, pick in (("p (pause/resume a queued job)", "command"), ("j/k in Finished", "move")):
        local_ms = [value * 1000 for value in getattr(local, pick)]
        attached_ms = [value * 1000 for value in getattr(attached, pick)]
        ratio = statistics.median(attached_ms) / statistics.median(local_ms)
        verdict = "PASS" if ratio <= 1.2 and max(attached_ms) < 100 else "FAIL"
        print(
            f"key latency, {what}: attached median {statistics.median(attached_ms):.1f} ms, "
            f"worst {max(attached_ms):.1f} ms | local median {statistics.median(local_ms):.1f} ms, "
            f"worst {max(local_ms):.1f} ms | ratio {ratio:.2f} (target <= 1.2, worst < 100 ms) {verdict}"
        )
    rates = [f"{rate:.0f}" for rate in local.changes_per_s + attached.changes_per_s]
    print(
        f"  ({len(local.command) + len(local.move)} local and {len(attached.command) + len(attached.move)} "
        f"attached key presses; state changes/s per round: {', '.join(rates)})"
    )


def bench_latency(folder: Path, rounds: int, presses: int) -> None:
    socket_path = folder / "run" / "s.sock"
    local, attached = Latencies(), Latencies()
    try:
        for number in range(rounds):
            anyio.run(local_round, folder, presses, local)
            anyio.run(attached_round, folder, socket_path, presses, attached, number)
    finally:
        stop_server(socket_path)  # each round's server is stopped as its dashboard quits; this, if it failed
    report_latency(local, attached)


# --- idle CPU ---------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def cpu_share(pids: list[int], seconds: float) -> list[float]:
    """Each process's CPU over `seconds`, as a percentage of one core."""
    before, started = [cpu_seconds(pid) for pid in pids], time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return [100 * (cpu_seconds(pid) - used) / elapsed for pid, used in zip(pids, before, strict=True)]


def settle(pid: int, *, below: float = 2.0, timeout: float = 150.0) -> None:
    """Wait until the process uses under `below` % of a core for two seconds running: its start-up is over, and a
    dashboard's header has gone still (its rate counts the jobs finished in the last minute)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        quiet = quiet + 1 if cpu_share([pid], 1.0)[0] < below else 0


class Dashboard:
    """A real `jobdeck ...` dashboard in a pseudo-terminal, whose output is read (and dropped) by a thread."""

    def __init__(self, arguments: list[str], env: dict[str, str], folder: Path) -> None:
        controlling, program = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runner.cli", *arguments],
            stdin=program,
            stdout=program,
            stderr=program,
            start_new_session=True,
            env={**env, **TERMINAL},
            cwd=folder,  # not a checkout whose `runner` would come first on the path (see the module's docstring)
        )
        os.close(program)
        self.fd = controlling
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    if not os.read(self.fd, 65536):
                        return
                except OSError:
                    return

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)  # attached: a detach; local: its jobs are stopped
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self.fd)


def bench_idle(folder: Path, seconds: float) -> None:
    socket_path = folder / "idle" / "s.sock"
    env = {**os.environ, "JOBDECK_SOCKET": str(socket_path), "JOBDECK_DB": str(folder / "idle.db")}
    deck = busy_deck(folder, "idle", 0)

    async def start() -> int:
        async with await ensure_server(socket_path, log_path=folder / "idle.log") as client:
            return client.server.pid

    async def load_and_finish() -> int:
        async with await Client.connect(socket_path) as client:
            await client.request("load", path=str(deck), environ=dict(os.environ))
            while True:
                status = await client.request("status")
                counts = status["decks"][0]["counts"]
                if sum(counts.get(state.value, 0) for state in FINISHED) == JOBS:
                    return int(status["server"]["pid"])
                await anyio.sleep(0.5)

    try:
        empty = anyio.run(start)
        settle(empty)
        [nothing] = cpu_share([empty], seconds)
        server = anyio.run(load_and_finish)
        settle(server)
        [alone] = cpu_share([server], seconds)
        attached = Dashboard(["attach"], env, folder)
        try:
            settle(attached.process.pid)
            server_share, dashboard_share = cpu_share([server, attached.process.pid], seconds)
        finally:
            attached.close()
    finally:
        stop_server(socket_path)
    local = Dashboard(["--local", str(deck)], env, folder)
    try:
        settle(local.process.pid)
        [local_share] = cpu_share([local.process.pid], seconds)
    finally:
        local.close()
    verdict = "PASS" if max(nothing, alone, server_share, dashboard_share) < 1 else "FAIL"
    print(
        f"idle CPU over {seconds:g} s: server with no decks {nothing:.2f}% | with {JOBS:,} finished jobs: server "
        f"alone {alone:.2f}%, server with an attached dashboard {server_share:.2f}%, attached dashboard "
        f"{dashboard_share:.2f}%, --local dashboard {local_share:.2f}% (target < 1% for the server and the attached "
        f"dashboard) {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="rounds of (local, attached) for the key latency")
    parser.add_argument("--presses", type=int, default=40, help="presses of each key per round (default 40)")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds each idle CPU figure is measured over")
    parser.add_argument("--only", nargs="*", choices=("latency", "idle"), default=["latency", "idle"])
    options = parser.parse_args(argv)
    # As an installed jobdeck runs: from compiled modules, not compiling some 240 modules at every start of a
    # server or dashboard, which a PYTHONDONTWRITEBYTECODE left in the shell would cause (see bench_limits.py).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="jdpush", dir="/tmp") as name:  # a short socket path
        folder = Path(name)
        os.environ["JOBDECK_DB"] = str(folder / "journal.db")
        print(f"code measured: {Path(runner.__file__).parent.parent} (every process)", flush=True)
        if "latency" in options.only:
            bench_latency(folder, options.repeat, options.presses)
        if "idle" in options.only:
            bench_idle(folder, options.idle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
