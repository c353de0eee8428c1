"""A command line that starts with a command's name is parsed by that command's parser alone, built the same."""

from __future__ import annotations

import argparse

import pytest

from runner.cli.arguments import SUBCOMMANDS, build_parser, parse_arguments
from runner.cli.command_subset import DroppedParser


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_a_command_built_alone_has_the_same_options_help_and_defaults(name: str) -> None:
    _, every = build_parser()
    _, alone = build_parser(name)
    assert isinstance(alone[name], argparse.ArgumentParser)
    assert alone[name].format_help() == every[name].format_help()
    assert actions(alone[name]) == actions(every[name])
    assert all(isinstance(parser, DroppedParser) for other, parser in alone.items() if other != name)


def actions(parser: argparse.ArgumentParser) -> list[object]:
    kinds = [getattr(a.type, "__qualname__", None) or repr(a.type) for a in parser._actions]  # closures differ
    return [(a.dest, a.option_strings, a.default, a.nargs, a.required, a.choices) for a in parser._actions] + kinds


def test_parsing_a_command_line_builds_only_its_command() -> None:
    options = parse_arguments(["run", "--json", "deck.toml"])
    assert options.command == "run" and options.json and [str(path) for path in options.files] == ["deck.toml"]
