"""Shared helpers for the hand-run benchmarks: run a deck the way `jobdeck run` does, time it, report it.

Not a test module: nothing here is collected by pytest, and nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.kinds.base import JobKind
from runner.model import JobState, Kind

PYTHON = sys.executable


@dataclass
class DeckTiming:
    parse_s: float
    """Reading and checking the job file (what `jobdeck run` does before the engine starts)."""
    engine_s: float
    """From entering `Engine()` until it has settled and shut down (worker start-up and teardown included)."""
    jobs: int

    @property
    def total_s(self) -> float:
        return self.parse_s + self.engine_s


def run_deck(path: Path, *, kinds: Mapping[Kind, JobKind] | None = None) -> DeckTiming:
    """Parse and run one deck in-process as `jobdeck run` does (runner.cli.main._run_decks), printing nothing.

    Raises RuntimeError if any job did not succeed: a benchmark of failing jobs measures nothing.
    """
    started = time.perf_counter()
    deck = load_deck(path)
    parsed = time.perf_counter()

    async def main() -> int:
        async with Engine(kinds=kinds) as engine:
            await engine.add_deck(deck)
            await engine.wait_until_settled()
            failed = [job for job in engine.jobs.values() if job.state is not JobState.SUCCEEDED]
            if failed:
                first = failed[0]
                detail = f"{first.id}: {first.state} {first.error}"
                raise RuntimeError(f"{len(failed)} jobs did not succeed; first: {detail}")
            return len(engine.jobs)

    jobs = anyio.run(main)
    return DeckTiming(parse_s=parsed - started, engine_s=time.perf_counter() - parsed, jobs=jobs)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """`min-max` of the runs, to show how noisy the median is."""
    return f"{min(values):.3f}-{max(values):.3f}"


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "FAIL"


def report_line(
    name: str, jobdeck_s: float, baseline_label: str, baseline_s: float, target: float, *, unit: str = "s"
) -> str:
    ratio = jobdeck_s / baseline_s
    return (
        f"{name}: jobdeck {jobdeck_s:.3f} {unit} | baseline ({baseline_label}) {baseline_s:.3f} {unit} | "
        f"ratio {ratio:.2f} (target <= {target:g}) {verdict(ratio, target)}"
    )


def repeat_parser(description: str, default_repeat: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--repeat",
        type=int,
        default=default_repeat,
        help=f"rounds of (jobdeck, baseline); medians are reported (default {default_repeat})",
    )
    parser.add_argument("--verbose", action="store_true", help="print every round's figures")
    return parser


def log(message: str, *, verbose: bool) -> None:
    if verbose:
        print(f"  {message}", file=sys.stderr, flush=True)


def write_deck(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


ECHO_TASKS = '''"""A trivial function for the thread benchmarks."""


def echo(value: int) -> int:
    return value
'''


def write_echo_deck(folder: Path, name: str, module: str, jobs: int, thread_limit: int) -> Path:
    """A deck of `jobs` trivial thread calls to `module:echo`, with that module written beside it."""
    (folder / f"{module}.py").write_text(ECHO_TASKS)
    text = f"""[deck]
name = "{name}"
thread_limit = {thread_limit}

[[job]]
name = "echo"
call = "{module}:echo"
on = "thread"
each = {toml_list(range(1, jobs + 1))}
args = ["{{item}}"]
"""
    return write_deck(folder, name, text)


def toml_list(items: Sequence[int]) -> str:
    return "[" + ", ".join(str(item) for item in items) + "]"
