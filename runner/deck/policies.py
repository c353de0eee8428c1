"""Reading the failure policies and hooks of a job file: `[deck]` halt, on_success, on_failure, on_finish,
notify, and a job's run_if and on_failure; each bad value a Problem at its key's line, with a hint."""

from __future__ import annotations

import re
from typing import Any

from runner.deck.table import MISSING, Table, describe, is_number, is_whole_number
from runner.policies import HaltOn, HaltPolicy, HaltWhen, RunIf
from runner.spelling import closest

DECK_POLICY_KEYS = ("halt", "on_success", "on_failure", "on_finish", "notify")
JOB_POLICY_KEYS = ("run_if", "on_failure")
HOOK_EXAMPLE = '"./report.sh"'
HALT_EXAMPLES = 'e.g. halt = "fail=3", "fail=10%", "now,fail=1" or "success=1"'

RUN_IF_SYNONYMS = {
    "succeeded": RunIf.SUCCESS,
    "ok": RunIf.SUCCESS,
    "on_success": RunIf.SUCCESS,
    "failed": RunIf.FAILURE,
    "fail": RunIf.FAILURE,
    "error": RunIf.FAILURE,
    "on_failure": RunIf.FAILURE,
    "finished": RunIf.ALWAYS,
    "done": RunIf.ALWAYS,
    "completed": RunIf.ALWAYS,
    "any": RunIf.ALWAYS,
    "all_done": RunIf.ALWAYS,
}
"""Values people write for run_if (Airflow's trigger rules, CI conditions), and the one jobdeck has."""

_HALT_CONDITION = re.compile(r"^(?P<on>[a-z]+)\s*=\s*(?P<amount>[0-9]+(?:\.[0-9]+)?)\s*(?P<percent>%?)$")


def deck_policies(deck: Table) -> dict[str, Any]:
    """The `[deck]` policy keys the table has, as Settings fields; a bad one is reported and left out."""
    given: dict[str, Any] = {}
    if deck.has("halt"):
        given["halt"] = halt_policy(deck)
    for key in ("on_success", "on_failure", "on_finish"):
        if deck.has(key):
            given[key] = hook_command(deck, key)
    if deck.has("notify"):
        given["notify"] = deck.flag("notify")
    return {key: value for key, value in given.items() if value is not None}


def hook_command(table: Table, key: str) -> str | None:
    """A hook: a shell command, as a non-empty string."""
    value = table.raw(key)
    if value is MISSING:
        return None
    if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
        hint = f'e.g. {key} = "{" ".join(value)}"'
        table.report(key, f"must be a shell command as one string, not {describe(value)}", hint)
        return None
    return table.text(key, example=HOOK_EXAMPLE)


def run_if(table: Table) -> RunIf | None:
    value = table.raw("run_if")
    if value is MISSING:
        return None
    choices = ", ".join(f'"{choice}"' for choice in RunIf)
    if not isinstance(value, str):
        table.report("run_if", f"must be one of {choices}, not {describe(value)}", 'e.g. run_if = "failure"')
        return None
    written = value.strip().casefold()
    if written in RunIf.__members__.values():
        return RunIf(written)
    meant = RUN_IF_SYNONYMS.get(written.replace("-", "_").replace(" ", "_")) or closest(written, list(RunIf))
    hint = f'did you mean run_if = "{meant}"?' if meant else f"run_if is one of {choices}"
    table.report("run_if", f"must be one of {choices}, not {value!r}", hint)
    return None


def halt_policy(deck: Table) -> HaltPolicy | None:
    """`halt = "[soon|now,]fail=N|fail=P%|success=N"`, or "never" (None); GNU parallel's `--halt` spelling."""
    value = deck.raw("halt")
    if value is MISSING:
        return None
    if is_whole_number(value) and value > 0:
        deck.report("halt", f'must be a string like "fail={value}", not {value}', f'write halt = "fail={value}"')
        return None
    if not isinstance(value, str):
        deck.report("halt", f"must be a string, not {describe(value)}", HALT_EXAMPLES)
        return None
    policy, problem = parse_halt(value)
    if problem is not None:
        deck.report("halt", f"{problem}: {value!r}", HALT_EXAMPLES)
    return policy


def parse_halt(text: str) -> tuple[HaltPolicy | None, str | None]:
    """The policy `text` spells (None for "never"), or the problem with it."""
    parts = [part.strip() for part in text.strip().casefold().split(",")]
    if parts == ["never"]:
        return None, None
    when = HaltWhen.SOON
    if len(parts) == 2:
        if parts[0] not in HaltWhen.__members__.values():
            meant = closest(parts[0], list(HaltWhen))
            also = f" (did you mean {meant!r}?)" if meant else ""
            return None, f'halt starts with "soon," or "now,", not {parts[0]!r}{also}'
        when = HaltWhen(parts[0])
        parts = parts[1:]
    if len(parts) != 1:
        return None, "halt is one condition, with soon or now before it"
    match = _HALT_CONDITION.match(parts[0])
    if match is None:
        return None, "halt must say after how many failures (fail=N or fail=N%) or successes (success=N)"
    on_text, amount_text, percent = match["on"], match["amount"], match["percent"]
    on_text = {"failure": "fail", "failed": "fail", "failures": "fail", "succeeded": "success"}.get(on_text, on_text)
    if on_text not in HaltOn.__members__.values():
        meant = closest(on_text, list(HaltOn))
        also = f" (did you mean {meant}=?)" if meant else ""
        return None, f"halt counts fail= or success=, not {on_text}={also}"
    amount = float(amount_text)
    if percent:
        if not 0 < amount <= 100:
            return None, "a halt percentage must be more than 0 and at most 100"
        return HaltPolicy(HaltOn(on_text), percent=amount, when=when), None
    if not is_number(amount) or amount < 1 or amount != int(amount):
        return None, "halt needs a whole number of jobs, 1 or more"
    return HaltPolicy(HaltOn(on_text), count=int(amount), when=when), None
