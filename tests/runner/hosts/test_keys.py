"""`host_limit`, `rate`, `min_interval` and `bandwidth` in a job file: read, and refused with a hint when bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from runner.errors import DeckError
from runner.hosts.units import UnitError, bytes_per_second, rate_interval
from runner.model import FetchSpec, HostLimits


def test_rates_and_bandwidths_read_as_people_write_them() -> None:
    assert [rate_interval(text) for text in ("10/s", "600/m", "2/h", "0.5/s", "30/min")] == [0.1, 0.1, 1800, 2, 2]
    assert bytes_per_second("5MB/s") == 5_000_000
    assert bytes_per_second("1.5 KiB/s") == 1536
    for bad in ("10", "10/x", "0/s", "5mb/s", "5MB", "5MB/m"):
        with pytest.raises(UnitError):
            bytes_per_second(bad) if "B" in bad.upper() else rate_interval(bad)


def test_deck_and_job_keys_are_read(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text(
        '[deck]\nhost_limit = 2\nrate = "4/s"\nbandwidth = "1MiB/s"\n\n'
        '[[job]]\nname = "a"\nfetch = "http://a.org/"\nmin_interval = 1\n\n'
        '[[job]]\nname = "b"\nfetch = "http://a.org/{item}"\neach = [1, 2]\nhost_limit = 1\n'
    )
    deck = load_deck(path)
    assert deck.settings.host_limits == HostLimits(host_limit=2, interval=0.25, bandwidth=1024**2)
    works = [job.work for job in deck.jobs]
    assert all(isinstance(work, FetchSpec) for work in works)
    assert [work.host_limits for work in works if isinstance(work, FetchSpec)] == [
        HostLimits(interval=1.0),
        HostLimits(host_limit=1),
        HostLimits(host_limit=1),
    ]


def test_bad_values_are_refused_with_their_line_and_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text(
        '[deck]\nhost_limit = 0\nrate = "10/x"\nbandwidth = "5mb/s"\nmax_connections = 3\n\n'
        '[[job]]\nname = "a"\nfetch = "http://a.org/"\nmin_interval = 0.5\nrate = "1/s"\nbandwidth = "1MB/s"\n'
    )
    with pytest.raises(DeckError) as raised:
        load_deck(path)
    told = [(problem.line, problem.job, problem.key, problem.hint) for problem in raised.value.problems]
    assert told == [
        (2, None, "host_limit", "a limit of 0 would never run anything"),
        (3, None, "rate", "'x' is not a unit of time here: use s, m or h, e.g. \"10/s\""),
        (4, None, "bandwidth", 'did you mean "5MB/s"?'),
        (
            5,
            None,
            "max_connections",
            "jobdeck calls it host_limit: write host_limit = 3; "
            "connections to one host:port at once, across every deck",
        ),
        (10, "a", "min_interval", 'keep one: rate = "10/s" is min_interval = 0.1'),
        (
            12,
            "a",
            "bandwidth",
            "bandwidth is shared: set it in [deck] (the deck's fetches together) or for a host in the config file, "
            'e.g. bandwidth = "5MB/s"',
        ),
    ]
