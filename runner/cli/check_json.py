"""`jobdeck check --json`: what `check` finds, as one JSON object for editors and CI.

    {"ok": false,
     "files": [{"file": "a.toml", "ok": true, "deck": "a", "jobs": 3, "kinds": ["shell"]},
               {"file": "b.toml", "ok": false}],
     "problems": [{"file": "b.toml", "line": 4, "column": 1, "job": "get", "key": "fetch",
                   "message": "...", "hint": "..."}]}

A problem's `line`, `column`, `job`, `key` and `hint` are null when not known; `file` is the path as given. The
exit status is `check`'s: 0 when every file is good, 2 when any is not.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.cli.exits import EXIT_BAD_INPUT, EXIT_OK
from runner.cli.loading import as_given

if TYPE_CHECKING:
    from runner.errors import Problem


def check_json_command(files: Sequence[Path]) -> int:
    out = sys.stdout
    from runner.deck.parser import check_deck
    from runner.errors import DeckError

    checked: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for given in files:
        try:
            deck = check_deck(given)
        except DeckError as error:
            checked.append({"file": str(given), "ok": False})
            problems += [problem_object(as_given(problem, given)) for problem in error.problems]
            continue
        kinds = sorted(kind.value for kind in deck.kinds)
        checked.append({"file": str(given), "ok": True, "deck": deck.name, "jobs": deck.jobs, "kinds": kinds})
    from runner.config.reading import config_problems

    config_problem_list, config = config_problems()
    config_path = config_problem_list[0].path if config_problem_list else config.path if config else None
    if config_path is not None:
        checked.append({"file": str(config_path), "ok": not config_problem_list, "config": True})
        problems += [problem_object(problem) for problem in config_problem_list]
    json.dump({"ok": not problems, "files": checked, "problems": problems}, out)
    out.write("\n")
    return EXIT_BAD_INPUT if problems else EXIT_OK


def problem_object(problem: Problem) -> dict[str, Any]:
    """A runner.errors.Problem as `check --json` shows it."""
    return {
        "file": str(problem.path),
        "line": problem.line,
        "column": problem.column,
        "job": problem.job,
        "key": problem.key,
        "message": problem.message,
        "hint": problem.hint,
    }
