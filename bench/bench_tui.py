"""The dashboard's speed: a run in the TUI against the headless engine, key latency under load, start-up.

    .venv/bin/python bench/bench_tui.py [--only run latency startup] [--repeat 5] [--before DIR]

1. 5,000 tiny thread jobs: wall time of the run in the TUI (headless `run_test`) against `jobdeck run` of the
   same deck, each a whole process from start to exit, rounds taking turns to go first (target: at most 1.1x).
2. 10,000 jobs loaded, about 1,000 state changes a second: how long a key press takes to show its effect
   (median under 100 ms, worst under 250 ms), measured from sending the key until the screen has processed
   it and repainted.
3. Start-up to the first painted screen with a 10,000-job deck, in a fresh process (target: under 1 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import anyio
from textual import events

from runner.deck.parser import load_deck
from runner.model import JobState
from tui.app import JobdeckApp
from tui.panes import Pane

RUN_TARGET = 1.1

TASKS = """
import time


def tiny(value):
    return value


def nap(seconds):
    time.sleep(seconds)
    return seconds
"""


def write_deck(folder: Path, name: str, body: str) -> Path:
    (folder / "tasks.py").write_text(TASKS)
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(body))
    return path


def items(count: int) -> str:
    return "[" + ", ".join(str(number) for number in range(count)) + "]"


TUI_RUN_SCRIPT = """
import sys, time
started = time.perf_counter()
import anyio
from runner.deck.parser import load_deck
from tui.app import JobdeckApp

async def main():
    app = JobdeckApp([load_deck(sys.argv[1])])
    async with app.run_test(size=(120, 40)):
        # Plain sleeps: Pilot.pause would force extra screen refreshes that a real terminal never asks for.
        while app.engine is None or not app.engine.jobs or not app.engine.settled:
            await anyio.sleep(0.02)
        await app.stop_engine()

anyio.run(main)
"""


def timed_process(command: list[str], environ: dict[str, str] | None = None, folder: Path | None = None) -> float:
    """Seconds `command` takes; run in `folder` (a scratch one), since `python -m`/`-c` put the current folder
    first on the path, where a checkout's own `runner` would shadow the one PYTHONPATH names."""
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=environ, cwd=folder)
    return time.perf_counter() - started


def bench_run_in_tui(folder: Path, repeat: int, before: Path | None = None) -> None:
    path = write_deck(
        folder,
        "tiny",
        f"""
        [deck]
        thread_limit = 8

        [[job]]
        name = "tiny"
        call = "tasks:tiny"
        on = "thread"
        args = ["{{item}}"]
        each = {items(5000)}
        """,
    )
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled modules, as installed (see bench_limits.py)
    run_command = [sys.executable, "-m", "runner.cli.main", "run", "--no-journal", str(path)]
    tui_command = [sys.executable, "-c", TUI_RUN_SCRIPT, str(path)]
    sides: dict[str, tuple[list[str], dict[str, str] | None]] = {"run": (run_command, None), "tui": (tui_command, None)}
    if before is not None:  # the same two at another checkout (its code first on PYTHONPATH)
        environ = dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(before), os.environ.get("PYTHONPATH")]))
        )
        sides |= {"run before": (run_command, environ), "tui before": (tui_command, environ)}
    times: dict[str, list[float]] = {side: [] for side in sides}
    for command, environ in sides.values():  # warm-up: modules compiled, the page cache filled
        timed_process(command, environ, folder)
    order = list(sides)
    for round_number in range(repeat):
        turn = round_number % len(order)
        for side in order[turn:] + order[:turn]:
            times[side].append(timed_process(*sides[side], folder))
    run_times, tui_times = times["run"], times["tui"]
    run_s, tui_s = statistics.median(run_times), statistics.median(tui_times)
    ratio = tui_s / run_s
    print(
        f"tui: 5,000 tiny jobs, whole processes: TUI (headless) {tui_s:.2f} s | jobdeck run {run_s:.2f} s | "
        f"ratio {ratio:.2f} (target <= {RUN_TARGET:g}; median of {repeat} rounds) "
        f"{'PASS' if ratio <= RUN_TARGET else 'FAIL'}"
    )
    if before is not None:
        run_before, tui_before = statistics.median(times["run before"]), statistics.median(times["tui before"])
        ratio_before = tui_before / run_before
        print(f"  before ({before}): TUI {tui_before:.2f} s, jobdeck run {run_before:.2f} s, ratio {ratio_before:.2f}")
    tui_spread = f"{min(tui_times):.2f}-{max(tui_times):.2f}"
    print(f"  runs: TUI {tui_spread} s, jobdeck run {min(run_times):.2f}-{max(run_times):.2f} s")


async def key_latencies(path: Path, presses: int) -> tuple[list[float], float]:
    """Seconds from each key press until a frame showing its effect goes to the terminal, and the state
    changes per second meanwhile.

    Pilot's `press` waits for every widget to go idle, which under a steady stream of updates takes
    seconds and says nothing about what a user sees; so the key is posted as the terminal driver would,
    and the app's display hook (which writes each frame to the terminal) is timed instead.
    """
    app = JobdeckApp([load_deck(path)])
    latencies: list[float] = []
    frames: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        display = app._display

        def timed_display(screen: object, renderable: object) -> None:
            if renderable is not None:
                frames.append(time.perf_counter())
            display(screen, renderable)  # type: ignore[arg-type]

        app._display = timed_display  # type: ignore[method-assign]
        while app.engine is None or len(app.job_list(Pane.FINISHED).jobs) < 50:
            await pilot.pause(0.05)
        await pilot.press("tab")  # the Finished pane: thousands of rows, growing
        finished = app.job_list(Pane.FINISHED)
        revision_before, started = app.engine.revision, time.perf_counter()
        for number in range(presses):
            if app.model.count(Pane.QUEUED) < 500:
                break  # keep the load on while measuring
            key = ("up", "k", "home", "down", "j", "end")[number % 6]
            cursor_before = finished.cursor
            sent = time.perf_counter()
            app.post_message(events.Key(key, None))
            while finished.cursor == cursor_before and time.perf_counter() - sent < 2:
                await anyio.sleep(0.0005)
            moved = time.perf_counter()
            while not (frames and frames[-1] >= moved) and time.perf_counter() - sent < 2:
                await anyio.sleep(0.0005)
            latencies.append(time.perf_counter() - sent)
            await anyio.sleep(0.1)
        changes_per_s = (app.engine.revision - revision_before) / (time.perf_counter() - started)
        app._display = display  # type: ignore[method-assign]
        # A held job shows its new state: the effect of `p` on the last queued job, checked once.
        await pilot.press("tab", "end")
        target = app.selected_job
        await pilot.press("p")
        assert target is not None and target.state is JobState.PAUSED, "p should hold the selected queued job"
        await app.stop_engine()
    return latencies, changes_per_s


def bench_key_latency(folder: Path) -> None:
    path = write_deck(
        folder,
        "busy",
        f"""
        [deck]
        thread_limit = 8

        [[job]]
        name = "busy"
        call = "tasks:nap"
        on = "thread"
        args = [0.012]
        each = {items(10_000)}
        """,
    )
    latencies, changes_per_s = anyio.run(key_latencies, path, 60)
    latencies_ms = sorted(value * 1000 for value in latencies)
    print(f"  ({len(latencies_ms)} key presses measured)")
    median_ms, worst_ms = statistics.median(latencies_ms), latencies_ms[-1]
    verdict = "PASS" if median_ms < 100 and worst_ms < 250 else "FAIL"
    print(
        f"key latency with 10,000 jobs and {changes_per_s:.0f} state changes/s: median {median_ms:.1f} ms, "
        f"p95 {latencies_ms[int(len(latencies_ms) * 0.95)]:.1f} ms, worst {worst_ms:.1f} ms "
        f"(target median < 100, worst < 250) {verdict}"
    )


STARTUP_SCRIPT = """
import sys, time
started = time.perf_counter()
import anyio
from runner.deck.parser import load_deck
from tui.app import JobdeckApp
from tui.panes import Pane

async def main():
    app = JobdeckApp([load_deck(sys.argv[1])])
    async with app.run_test(size=(120, 40)) as pilot:
        while app.engine is None or not app.job_list(Pane.QUEUED).jobs:
            await pilot.pause(0.005)
        await pilot.pause()
        print(time.perf_counter() - started)
        await app.engine.pause_all()
        await app.stop_engine()

anyio.run(main)
"""


def bench_startup(folder: Path) -> None:
    path = write_deck(
        folder,
        "large",
        f"""
        [deck]
        shell_limit = 1

        [[job]]
        name = "step"
        shell = "sleep 30"
        each = {items(10_000)}
        """,
    )
    times = []
    for _ in range(3):
        output = subprocess.run(
            [sys.executable, "-c", STARTUP_SCRIPT, str(path)], capture_output=True, text=True, check=True
        )
        times.append(float(output.stdout.strip().splitlines()[-1]))
    seconds = statistics.median(times)
    print(
        f"start-up to the first painted screen, 10,000-job deck: {seconds:.2f} s "
        f"(runs {min(times):.2f}-{max(times):.2f}; target < 1 s) {'PASS' if seconds < 1 else 'FAIL'}"
    )


PARTS = ("run", "latency", "startup")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=PARTS, default=list(PARTS), help="parts to run")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the run part (default 5)")
    parser.add_argument("--before", type=Path, help="another checkout: its run part as two more sides of each round")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-tui-") as folder:
        if "run" in options.only:
            bench_run_in_tui(Path(folder), options.repeat, options.before)
        if "latency" in options.only:
            bench_key_latency(Path(folder))
        if "startup" in options.only:
            bench_startup(Path(folder))


if __name__ == "__main__":
    main()
