"""The commands that report on jobs: `wait`, `status`, `history`, `export`, `completion` and `check --json`.

Each lives in a module of its own, imported only when its command runs.
"""

from __future__ import annotations

import argparse
import sys

REPORT_COMMANDS = ("wait", "status", "history", "export", "completion")


def reports_command(options: argparse.Namespace) -> int:
    command = options.command
    if command == "wait":
        from runner.cli.waiting import wait_command

        return wait_command(options)
    if command == "status":
        from runner.cli.status_command import status_command

        return status_command(options)
    if command == "history":
        from runner.cli.exporting import history_command

        return history_command(options.db, limit=options.limit, as_json=options.json)
    if command == "export":
        from runner.cli.exporting import export_command

        return export_command(options.run, options.db, as_json=options.json)
    if command == "completion":
        from runner.cli.completion import completion_script

        sys.stdout.write(completion_script(options.shell))
        return 0
    from runner.cli.check_json import check_json_command

    return check_json_command(options.files)
