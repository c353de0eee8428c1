"""Building the parser of one command only: `only_command` stands in for argparse's subcommands action.

Building every command's parser cost each start-up ~10 ms of CPU (21 parsers, some 100 options, each checked
by a help formatter as it is added), while parsing a command line that starts with a command's name needs only
that command's parser. `build_parser` keeps adding all of them as it always has; for another command than the
one asked for, this hands it a `DroppedParser`, which takes whatever is added to it and keeps nothing.
"""

from __future__ import annotations

import argparse
from typing import Any, cast

Commands = argparse._SubParsersAction  # type: ignore[type-arg]


class DroppedParser:
    """The parser of a command that is not being parsed: every method call and attribute set is dropped."""

    def __getattr__(self, name: str) -> Any:
        return self._drop

    def __setattr__(self, name: str, value: object) -> None:
        pass

    def _drop(self, *args: object, **kwargs: object) -> DroppedParser:
        return self


class _OnlyCommand:
    """What build_parser uses of a subcommands action (`add_parser`, `choices[name]`), for one command only."""

    def __init__(self, commands: Commands, name: str) -> None:
        self._commands = commands
        self._name = name
        self.choices = _Choices(commands, name)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name == self._name:
            return cast(argparse.ArgumentParser, self._commands.add_parser(name, **kwargs))
        return cast(argparse.ArgumentParser, DroppedParser())


class _Choices:
    def __init__(self, commands: Commands, name: str) -> None:
        self._commands = commands
        self._name = name

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        if name == self._name:
            return cast(argparse.ArgumentParser, self._commands.choices[name])
        return cast(argparse.ArgumentParser, DroppedParser())


def only_command(commands: Commands, name: str | None) -> Commands:
    """`commands` itself (name None), or a stand-in that builds the parser of the command `name` only."""
    return commands if name is None else cast(Commands, _OnlyCommand(commands, name))
