"""The user config file: where it is found, what a bad one says (file, line, key, hint), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli.check_json import check_json_command
from runner.cli.loading import check_command
from runner.config.reading import config_path, load_user_config
from runner.errors import DeckError
from runner.model import HostLimits
from runner.server.server import EXIT_CANNOT_START
from tests.helpers import jobdeck

BAD = """\
fetch_limit = 0
rat = "10/s"
max_connections = 4

[hosts."example.com"]
bandwidth = "5mb/s"

[hosts."https://example.org/"]
host_limit = 2
"""


def write(folder: Path, text: str, name: str = "config.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_found_in_xdg_config_home_and_jobdeck_config_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "xdg"
    (home / "jobdeck").mkdir(parents=True)
    default = write(home / "jobdeck", "host_limit = 3\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    assert config_path() == default
    assert load_user_config().defaults == HostLimits(host_limit=3)
    chosen = write(tmp_path, "host_limit = 5\n", "other.toml")
    monkeypatch.setenv("JOBDECK_CONFIG", str(chosen))
    assert load_user_config().defaults == HostLimits(host_limit=5)


def test_no_config_file_means_no_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = load_user_config()
    assert config.path is None and not config.server_limits and config.hosts == {}


def test_a_host_table_wins_over_the_defaults_and_host_port_over_host(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'host_limit = 8\nrate = "10/s"\nfetch_limit = 20\n\n[hosts."Example.com"]\nhost_limit = 2\n\n'
        '[hosts."example.com:8080"]\nhost_limit = 1\nbandwidth = "1MiB/s"\n',
    )
    config = load_user_config({"JOBDECK_CONFIG": str(path)})
    assert config.server_limits == {"fetch": 20}
    assert config.host_limits("example.com", 443) == HostLimits(host_limit=2, interval=0.1)
    assert config.host_limits("example.com", 8080) == HostLimits(host_limit=1, interval=0.1, bandwidth=1024**2)
    assert config.host_limits("other.org", 80) == HostLimits(host_limit=8, interval=0.1)


def test_every_problem_of_a_bad_config_file_is_told_with_its_line_key_and_hint(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    with pytest.raises(DeckError) as raised:
        load_user_config({"JOBDECK_CONFIG": str(path)})
    told = [(problem.line, problem.key, problem.hint) for problem in raised.value.problems]
    assert told == [
        (1, "fetch_limit", "a limit of 0 would never run anything"),
        (2, "rat", "did you mean 'rate'?"),
        (
            3,
            "max_connections",
            "jobdeck calls it host_limit: write host_limit = 4; "
            "connections to one host:port at once, across every deck",
        ),
        (6, 'hosts."example.com".bandwidth', 'did you mean "5MB/s"?'),
        (8, None, 'write [hosts."example.org"]'),
    ]


def test_check_validates_the_config_file_and_run_refuses_to_start_on_a_bad_one(tmp_path: Path) -> None:
    config = write(tmp_path, BAD)
    deck = write(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n', "deck.toml")
    env = {**os.environ, "JOBDECK_CONFIG": str(config)}
    checked = jobdeck("check", deck, env=env)
    assert checked.returncode == 2
    assert f"error: {config}:6: key 'hosts.\"example.com\".bandwidth': '5mb/s' is not a bandwidth" in checked.stderr
    ran = jobdeck("run", "--no-journal", deck, env=env)
    assert ran.returncode == 2
    assert f"error: {config}:1: key 'fetch_limit'" in ran.stderr
    assert "Traceback" not in checked.stderr + ran.stderr


def test_check_says_a_good_config_file_is_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "host_limit = 2\n", "good.toml")
    deck = write(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n', "deck.toml")
    monkeypatch.setenv("JOBDECK_CONFIG", str(good))
    assert check_command([deck]) == 0
    assert f"ok: config file {good}" in capsys.readouterr().out


def test_check_json_lists_the_config_file_and_its_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, 'host_limit = 2\n\n[hosts."a.org"]\nrate = 5\n')
    deck = write(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n', "deck.toml")
    monkeypatch.setenv("JOBDECK_CONFIG", str(config))
    assert check_json_command([deck]) == 2
    told = json.loads(capsys.readouterr().out)
    assert told["files"][-1] == {"file": str(config), "ok": False, "config": True}
    assert [(problem["line"], problem["key"], problem["hint"]) for problem in told["problems"]] == [
        (4, 'hosts."a.org".rate', 'e.g. rate = "5/s"')
    ]


def test_a_server_does_not_start_on_a_bad_config_file_and_says_why(tmp_path: Path) -> None:
    config = write(tmp_path, 'rate = "fast"\n')
    env = {**os.environ, "JOBDECK_CONFIG": str(config)}
    # The server process itself, as `jobdeck` starts it: its starter shows the last line it wrote.
    started = subprocess.run(
        [sys.executable, "-m", "runner.server.server", "--socket", str(tmp_path / "s.sock"), "--no-journal"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert started.returncode == EXIT_CANNOT_START
    said = started.stderr.splitlines()[-1]
    assert f"the config file is bad: {config}:1: key 'rate': 'fast' is not a rate" in said
    assert "Traceback" not in said
