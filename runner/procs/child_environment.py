"""The environment of the Python processes jobdeck starts (workers, the guardian): they must find this `runner`.

A module of its own, importing nothing of jobdeck's, so that starting the guardian of a deck without process
jobs does not import the worker pool.
"""

from __future__ import annotations

import os
from pathlib import Path

RUNNER_ROOT = str(Path(__file__).resolve().parents[2])
"""The folder holding the runner package."""


def python_child_environment() -> dict[str, str]:
    """The parent's environment, with the folder holding the runner package first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [RUNNER_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env
