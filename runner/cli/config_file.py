"""The user config file as the commands meet it: read at start (`run`, `--local`, the server), checked by `check`."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from runner.config.user_config import UserConfig


def user_config_or_report(err: TextIO) -> UserConfig | None:
    """The config file in use (an empty one when there is none); None after printing its problems when bad."""
    from runner.config.reading import config_problems

    problems, config = config_problems()
    for problem in problems:
        print(f"error: {problem}", file=err)
    if problems:
        print("jobdeck: fix the config file, or point JOBDECK_CONFIG at another one", file=err)
    return config
