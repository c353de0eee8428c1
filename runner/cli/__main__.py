"""`python -m runner.cli`: the same as the `jobdeck` command."""

from runner.cli.main import entry

entry()
