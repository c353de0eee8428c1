"""Finding and reading the user config file; every bad key is a problem with its line, like a job file's."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner import paths
from runner.config.user_config import NO_CONFIG, SERVER_LIMIT_KEYS, SLOT_OF_LIMIT, UserConfig
from runner.deck.lines import Block
from runner.deck.lookalikes import LIMITS
from runner.deck.problems import Problems, toml_syntax_problem
from runner.deck.table import Table, describe
from runner.deck.toml_parsing import parse_toml
from runner.errors import DeckError, Problem
from runner.hosts.keys import HOST_KEYS, HOST_LOOKALIKES, read_host_limits
from runner.model import HostLimits

TOP_KEYS = (*SERVER_LIMIT_KEYS, *HOST_KEYS, "hosts")
HOST_TABLE_KEYS = HOST_KEYS
TOP_LOOKALIKES = {
    **HOST_LOOKALIKES,
    **dict.fromkeys(("thread_limit", "dask_limit"), "set it per deck, in a job file's [deck] table"),
    **dict.fromkeys(("concurrency", "parallel", "workers", "max_workers", "limit"), LIMITS),
    **dict.fromkeys(("host", "servers", "sites", "domains"), 'write a table per host: [hosts."example.com"]'),
}
_HEADER = re.compile(r"""^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$""")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*=""")
_KEY_PART = re.compile(r""""[^"]*"|'[^']*'|[^.\s]+""")
_HOST_NAME = re.compile(r"[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]")


def config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file in use: `$JOBDECK_CONFIG` (even if missing: reading it says so), else the user's
    config.toml when it exists, else None."""
    chosen = paths.chosen_config_path(environ)
    if chosen is not None:
        return chosen
    default = paths.default_config_path(environ)
    return default if default.is_file() else None


def load_user_config(environ: Mapping[str, str] | None = None) -> UserConfig:
    """The config file in use, read; NO_CONFIG when there is none. DeckError, listing every problem, when bad."""
    path = config_path(environ)
    return NO_CONFIG if path is None else read_user_config(path)


def config_problems(environ: Mapping[str, str] | None = None) -> tuple[list[Problem], UserConfig | None]:
    """The config file's problems (none when it is good or there is none), and what it says when good."""
    try:
        return [], load_user_config(environ)
    except DeckError as error:
        return list(error.problems), None


def read_user_config(path: Path) -> UserConfig:
    def fail(message: str, hint: str | None = None) -> DeckError:
        return DeckError([Problem(path, message, hint=hint)])

    if not path.exists():
        variable = paths.CONFIG_VARIABLE
        named = os.environ.get(variable)
        hint = f"{variable} names it: fix the path or unset {variable}" if named else "check the path"
        raise fail("no such config file", hint)
    if not path.is_file():
        raise fail("the config file is not a regular file", "give the path of a .toml text file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"cannot read the config file: {getattr(error, 'strerror', None) or error}") from None
    try:
        data = parse_toml(text)
    except tomllib.TOMLDecodeError as error:
        raise DeckError([toml_syntax_problem(error, text, path)]) from None
    return parse_user_config(data, text, path)


def parse_user_config(data: Mapping[str, Any], text: str, path: Path) -> UserConfig:
    problems = Problems(path)
    blocks = _blocks(text)
    top = Table(data, problems, blocks.get((), Block(line=None)), job=None)
    top.refuse_unknown_keys(TOP_KEYS, table="the config file", lookalikes=TOP_LOOKALIKES)
    server_limits: dict[str, int] = {}
    for key in SERVER_LIMIT_KEYS:
        value = top.whole_number(key, minimum=1)
        if value is not None:
            server_limits[SLOT_OF_LIMIT[key]] = value
    defaults = read_host_limits(top, bandwidth=True)
    hosts: dict[str, HostLimits] = {}
    written = top.table("hosts", example='{ "example.com" = { host_limit = 2 } }, or a [hosts."example.com"] table')
    for name, value in (written or {}).items():
        where = ("hosts", name)
        if not isinstance(value, dict):
            top.report("hosts", f"hosts.{name!r} must be a table, not {describe(value)}", f'write [hosts."{name}"]')
            continue
        table = _HostTable(name, value, problems, blocks.get(where, blocks.get(("hosts",), Block(line=None))))
        key = _host_key(name, table)
        if key is None:
            continue
        table.refuse_unknown_keys(HOST_TABLE_KEYS, table=f'[hosts."{name}"]', lookalikes=HOST_LOOKALIKES)
        hosts[key] = read_host_limits(table, bandwidth=True)
    problems.raise_if_any()
    return UserConfig(path=path, server_limits=server_limits, defaults=defaults, hosts=hosts)


class _HostTable(Table):
    """A `[hosts."name"]` table: its problems name their key as `hosts."name".key`, so the host is known."""

    def __init__(self, name: str, data: Mapping[str, Any], problems: Problems, block: Block) -> None:
        super().__init__(data, problems, block, job=None)
        self.name = name

    def report(self, key: str | None, message: str, hint: str | None = None) -> None:
        line = self.block.line_of(key) if key else self.block.line
        full_key = f'hosts."{self.name}".{key}' if key else None
        self.problems.add(message, line=line, key=full_key, hint=hint)


def _host_key(name: str, table: Table) -> str | None:
    """`host` or `host:port`, lower case; None (reported) when the name is not one."""
    host, colon, port = name.rpartition(":") if not name.endswith("]") else (name, "", "")
    if not colon:
        host, port = name, ""
    if "://" in name or "/" in name:
        bare = name.split("://", 1)[-1].split("/", 1)[0]
        table.report(None, f"[hosts.{name!r}] must name a host or host:port, not a URL", f'write [hosts."{bare}"]')
        return None
    if not _HOST_NAME.fullmatch(host) or (colon and not (port.isdigit() and 0 < int(port) < 65536)):
        table.report(None, f"[hosts.{name!r}] must name a host or host:port", 'e.g. [hosts."example.com:8080"]')
        return None
    return name.lower()


def _blocks(text: str) -> dict[tuple[str, ...], Block]:
    """The line of each table header and of each key under it, by the table's key path (() for the top)."""
    blocks: dict[tuple[str, ...], Block] = {(): Block(line=None)}
    current = blocks[()]
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header is not None:
            path = tuple(_unquote(part) for part in _KEY_PART.findall(header.group(1)))
            current = blocks.setdefault(path, Block(line=number))
            if len(path) > 1:  # `[hosts."x"]` sets the key "hosts" of the top, as far as lines go
                blocks[()].note_key(path[0], number)
                blocks.setdefault(path[:1], Block(line=number))
            continue
        key = _KEY.match(line)
        if key is not None:
            current.note_key(_unquote(key.group(1)), number)
    return blocks


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key
