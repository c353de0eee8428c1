"""Job files that send call jobs to a Dask cluster: the keys, their defaults, and every refusal located.

Parsing needs no Dask: these tests run without the extra too.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner.deck.parser import parse_deck
from runner.errors import DeckError
from runner.model import CallSpec, Deck


def parse(folder: Path, text: str) -> Deck:
    return parse_deck(textwrap.dedent(text), folder / "deck.toml", environ={})


def problems(folder: Path, text: str) -> list[str]:
    with pytest.raises(DeckError) as refused:
        parse(folder, text)
    return [str(problem).removeprefix(f"{folder / 'deck.toml'}:") for problem in refused.value.problems]


def call_of(deck: Deck, name: str) -> CallSpec:
    (spec,) = [job for job in deck.jobs if job.name == name]
    assert isinstance(spec.work, CallSpec)
    return spec.work


def test_dask_jobs_name_the_decks_cluster_or_their_own(tmp_path: Path) -> None:
    deck = parse(
        tmp_path,
        """
        [deck]
        process_limit = 3
        dask = "10.0.0.5:8786"

        [[job]]
        name = "deck-cluster"
        call = "only_on_the_workers:main"
        on = "dask"

        [[job]]
        name = "inline"
        call = "only_on_the_workers:main"
        on = "dask://scheduler.example:9000"
        """,
    )
    assert deck.settings.dask == "tcp://10.0.0.5:8786"
    assert deck.settings.dask_slots == 3  # dask_limit defaults to process_limit
    # A Dask job's module need not exist here: the workers are asked before the first task.
    assert (call_of(deck, "deck-cluster").on, call_of(deck, "deck-cluster").cluster) == ("dask", None)
    assert (call_of(deck, "inline").on, call_of(deck, "inline").cluster) == ("dask", "tcp://scheduler.example:9000")


def test_local_tls_and_a_limit_of_its_own(tmp_path: Path) -> None:
    local = parse(tmp_path, '[deck]\ndask = "local"\ndask_limit = 7\n[[job]]\nname = "a"\nshell = "true"\n')
    assert (local.settings.dask, local.settings.dask_slots) == ("local", 7)
    tls = parse(tmp_path, '[deck]\ndask = "tls://10.0.0.5:8786"\n[[job]]\nname = "a"\nshell = "true"\n')
    assert tls.settings.dask == "tls://10.0.0.5:8786"


def test_bad_dask_settings_are_refused_with_line_key_and_hint(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [deck]
        dask = "http://scheduler:8786"
        dask_limit = 0

        [[job]]
        name = "no-port"
        call = "m:f"
        on = "dask://scheduler"

        [[job]]
        name = "scheme-twice"
        call = "m:f"
        on = "dask://tcp://scheduler:8786"

        [[job]]
        name = "typo"
        call = "os:getcwd"
        on = "dusk"

        [[job]]
        name = "bad-port"
        call = "m:f"
        on = "dask://scheduler:http"
        """,
    )
    assert found == [
        "3: key 'dask': must be \"local\" or a Dask scheduler address, not 'http://scheduler:8786': http:// is not "
        'a scheduler protocol jobdeck can use (use tcp or tls) (e.g. dask = "tcp://10.0.0.5:8786", or dask = '
        '"local" for a cluster on this machine)',
        "4: key 'dask_limit': must be a whole number >= 1, not 0 (a limit of 0 would never run anything)",
        "9: job 'no-port', key 'on': 'dask://scheduler' is not a Dask scheduler address: it has no port (the "
        'scheduler\'s default is 8786) (e.g. on = "dask://10.0.0.5:8786", or on = "dask" for the deck\'s cluster)',
        "14: job 'scheme-twice', key 'on': 'dask://tcp://scheduler:8786' is not a Dask scheduler address: write "
        'only host:port after dask:// (e.g. on = "dask://10.0.0.5:8786", or on = "dask" for the deck\'s cluster)',
        '19: job \'typo\', key \'on\': must be "process", "thread", "dask" or "dask://host:port", not "dusk" '
        '(did you mean on = "dask"?)',
        "24: job 'bad-port', key 'on': 'dask://scheduler:http' is not a Dask scheduler address: the port must be a "
        'number from 1 to 65535 (e.g. on = "dask://10.0.0.5:8786", or on = "dask" for the deck\'s cluster)',
    ]


def test_dask_keys_belong_to_their_tables(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        dask = "local"

        [[job]]
        name = "a"
        shell = "true"
        on = "dask"
        """,
    )
    assert found == [
        "2: key 'dask': unknown table or key at the top of the job file (put it under the [deck] header)",
        "7: job 'a', key 'on': key 'on' applies only to call jobs, not to shell jobs (remove it)",
    ]
