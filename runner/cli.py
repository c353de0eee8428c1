"""The `jobdeck` command line.

`run` and `check` never import Textual: start-up stays quick and process workers stay light.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

EXIT_OK = 0
EXIT_JOBS_FAILED = 1
EXIT_BAD_INPUT = 2

SUBCOMMANDS = ("run", "check")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobdeck",
        description="Run decks of jobs (fetch URLs, call Python functions, run shell commands) with pause, "
        "cancel and retry.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run job files headless until every job has finished")
    run.add_argument("files", nargs="+", metavar="FILE", type=Path, help="job files (TOML)")
    run.add_argument("--json", action="store_true", help="print a JSON report on stdout at the end")
    run.add_argument(
        "--grace", type=float, default=5.0, metavar="S", help="seconds between SIGTERM and SIGKILL on cancel"
    )
    check = commands.add_parser("check", help="validate job files without running anything")
    check.add_argument("files", nargs="+", metavar="FILE", type=Path, help="job files (TOML)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not arguments or arguments[0] not in (*SUBCOMMANDS, "-h", "--help"):
        print("jobdeck: the dashboard is not available yet; use 'jobdeck run FILE...'", file=sys.stderr)
        parser.print_usage(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        options = parser.parse_args(arguments)
    except SystemExit as exit_request:
        return EXIT_BAD_INPUT if exit_request.code else EXIT_OK
    try:
        if options.command == "check":
            return check_command(options.files)
        return run_command(options.files, as_json=options.json, grace_period=options.grace)
    except KeyboardInterrupt:
        print("jobdeck: interrupted", file=sys.stderr)
        return EXIT_JOBS_FAILED


def load_all(files: Sequence[Path], err: TextIO) -> list | None:
    """Parse every file; print every problem and return None if any file is bad."""
    from runner.deck import load_deck
    from runner.errors import DeckError

    decks = []
    bad = False
    for path in files:
        try:
            decks.append(load_deck(path))
        except DeckError as error:
            bad = True
            for problem in error.problems:
                print(f"error: {problem}", file=err)
    return None if bad else decks


def check_command(files: Sequence[Path]) -> int:
    decks = load_all(files, sys.stderr)
    if decks is None:
        return EXIT_BAD_INPUT
    for deck in decks:
        kinds = sorted({job.kind.value for job in deck.jobs})
        print(f"ok: {deck.path}: deck {deck.name!r}, {len(deck.jobs)} jobs ({', '.join(kinds)})")
    return EXIT_OK


def run_command(files: Sequence[Path], *, as_json: bool, grace_period: float) -> int:
    decks = load_all(files, sys.stderr)
    if decks is None:
        return EXIT_BAD_INPUT
    import anyio

    return anyio.run(_run_decks, decks, as_json, grace_period)


async def _run_decks(decks: list, as_json: bool, grace_period: float) -> int:
    import anyio

    from runner.console import is_terminal, print_state_changes, show_live_progress
    from runner.engine import Engine
    from runner.model import JobState
    from runner.report import deck_report, state_counts_text

    progress_out = sys.stderr if as_json else sys.stdout
    started = time.monotonic()
    interrupted = False
    async with Engine(grace_period=grace_period) as engine:
        async with anyio.create_task_group() as watchers:

            async def cancel_on_signal() -> None:
                nonlocal interrupted
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        interrupted = True
                        await engine.cancel_all()

            watchers.start_soon(cancel_on_signal)
            follow = show_live_progress if is_terminal(progress_out) else print_state_changes
            watchers.start_soon(follow, engine, progress_out)
            await anyio.sleep(0)  # let the followers subscribe before the first event
            for deck in decks:
                await engine.add_deck(deck)
            await engine.wait_until_settled()
            watchers.cancel_scope.cancel()
        jobs = list(engine.jobs.values())
        elapsed = time.monotonic() - started
        if as_json:
            for deck_name in engine.decks:
                print(json.dumps(deck_report(deck_name, engine.jobs_of(deck_name))), flush=True)
        for deck_name in engine.decks:
            print(
                f"{deck_name}: {state_counts_text(engine.jobs_of(deck_name))} in {elapsed:.1f} s",
                file=progress_out,
            )
        for job in jobs:
            if job.state is JobState.FAILED:
                print(f"  failed: {job.id}: {job.error}", file=progress_out)
        if interrupted:
            print("jobdeck: interrupted; running jobs were cancelled", file=progress_out)
        all_succeeded = all(job.state is JobState.SUCCEEDED for job in jobs)
    return EXIT_OK if all_succeeded and not interrupted else EXIT_JOBS_FAILED


if __name__ == "__main__":
    sys.exit(main())
