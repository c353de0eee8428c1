"""The demo's files, shipped inside the package, copied into a fresh folder for each demo run."""

from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from pathlib import Path

DEMO_DECKS = ("demo.toml", "pipeline.toml")
"""The decks `jobdeck demo` loads (pipeline.toml is sample_jobs/pipeline.toml, linked into the package)."""
DEMO_FILES = (*DEMO_DECKS, "tasks.py")
"""The demo decks and the module their call jobs name, all package data of runner.demo."""


def prepare_workspace() -> Path:
    """A fresh folder holding the demo deck and its tasks, so the demo's downloads never land in the package.

    Raises FileNotFoundError naming what is missing when the installed package lacks its data."""
    package = resources.files(__package__)
    missing = [name for name in DEMO_FILES if not package.joinpath(name).is_file()]
    if missing:
        raise FileNotFoundError(f"the demo needs {', '.join(missing)} inside {package}; reinstall jobdeck")
    workspace = Path(tempfile.mkdtemp(prefix="jobdeck-demo-"))
    for name in DEMO_FILES:
        with resources.as_file(package.joinpath(name)) as source:
            shutil.copy(source, workspace / name)
    return workspace
