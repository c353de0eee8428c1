"""`jobdeck add` (one job, without a file) and `jobdeck pause|resume|cancel|retry JOB...`: the keyboard's job keys
from the shell. The server does the work (runner.server.control_handlers): this module only says what was asked
and prints what was done.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Any

from runner.cli.arguments import chosen_socket
from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK

CONTROL_COMMANDS = ("pause", "resume", "cancel", "retry")
DONE_WORDS = {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "retry": "retried"}
LISTED_AT_MOST = 20
"""More selected jobs than this are summed up in a line or two instead of a line each."""
ADD_OPTIONS = frozenset(
    {"--deck", "--name", "--after", "--retries", "--timeout", "--call", "--kwarg", "--json", "--socket"}
)
"""`add`'s own options: after --call's ARGs, most likely misplaced (a shell command may well take such options)."""
REFUSED = frozenset({"deck", "command", "bad_request"})
"""Server failures that mean the request itself was wrong (exit 2); any other is trouble reaching it (exit 1)."""


def control_main(options: argparse.Namespace) -> int:
    if options.command == "add":
        return add_command(options)
    return control_command(options)


# --- add -----------------------------------------------------------------------------------------------------


def argument_value(text: str) -> Any:
    """An argument of `add --call`: the value it reads as in JSON (a number, true or false, a list, an object, a
    "quoted" string), else the text as it is (`hello`, `007`, `a b`)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def keyword_value(text: str) -> tuple[str, Any]:
    """An argparse type for `--kwarg NAME=VALUE`."""
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE with NAME a Python name")
    return name, argument_value(value)


def add_command(options: argparse.Namespace) -> int:
    from runner.server.messages import Add
    from runner.umask import current_umask

    words = list(options.words)
    if words[:1] == ["--"]:
        words = words[1:]
    elif options.call is not None:
        late = [word for word in words if word.partition("=")[0] in ADD_OPTIONS]
        if late:
            print(
                f"jobdeck add: {late[0]} comes after the function's ARGs, where it would be one of them: put "
                "add's options before the ARGs (or -- before ARGs that start with --)",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
    if options.call is None and not words:
        took = f" (--after took {' '.join(options.after)!r}: put -- before the command)" if options.after else ""
        print(f"jobdeck add: give the command to run, after --{took}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        folder = os.getcwd()
    except OSError as gone:
        print(
            f"jobdeck add: the current folder is gone ({gone.strerror}): cd to where the job should run",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    fields: dict[str, Any] = {
        "folder": folder,
        "environ": dict(os.environ),
        "umask": current_umask(),
        "deck": options.deck,
        "name": options.name,
        "after": options.after or [],
        "retries": options.retries,
        "timeout": options.timeout,
    }
    if options.call is not None:
        fields.update(
            call=options.call, args=[argument_value(word) for word in words], kwargs=dict(options.kwarg or [])
        )
    else:
        # One word is a command line as written (pipes, `;`, `$VAR`); several are a program and its arguments.
        fields["shell"] = words[0] if len(words) == 1 else shlex.join(words)
    reply = _ask(Add(**fields), start=True, socket=chosen_socket(options), command="add")
    if isinstance(reply, int):
        return reply
    if options.json:
        print(json.dumps({"job": reply.job, "deck": reply.deck, "name": reply.name, "created": reply.created}))
    else:
        print(reply.job)
    if reply.created and not options.json:
        print(f"jobdeck add: started deck {reply.deck!r} for jobs added from the shell", file=sys.stderr)
    return EXIT_OK


# --- pause, resume, cancel, retry ----------------------------------------------------------------------------


def control_command(options: argparse.Namespace) -> int:
    from runner.server.messages import Command, Control

    action = options.command
    if not (options.jobs or options.deck or options.failed or options.all):
        print(
            f"jobdeck {action}: say which jobs: JOB... (names, globs, deck/name), --deck, --failed or --all",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if options.all and options.jobs:
        print(f"jobdeck {action}: --all selects every job: give no JOB with it", file=sys.stderr)
        return EXIT_BAD_INPUT
    request = Control(Command(action), list(options.jobs), list(options.deck or []), options.failed, options.all)
    reply = _ask(request, start=False, socket=chosen_socket(options), command=action)
    if isinstance(reply, int):
        return reply
    for pattern in reply.unmatched:
        print(f"jobdeck {action}: no job matches {pattern!r}", file=sys.stderr)
    for deck in reply.unknown_decks:
        print(f"jobdeck {action}: no deck named {deck!r} is loaded", file=sys.stderr)
    if options.json:
        print(json.dumps(_reply_object(reply)))
    else:
        for line in control_lines(reply):
            print(line)
    nothing = reply.matched == 0
    if nothing and not (reply.unmatched or reply.unknown_decks):
        print(f"jobdeck {action}: no job matches", file=sys.stderr)
    return EXIT_JOBS_FAILED if nothing or reply.unmatched or reply.unknown_decks else EXIT_OK


def control_lines(reply: Any) -> list[str]:
    """What was done: a line per job when few were selected, else a count of each outcome."""
    action = reply.action.value
    done_word = DONE_WORDS[action]
    if reply.matched <= LISTED_AT_MOST and len(reply.jobs) == reply.matched:
        return [_job_line(action, job.job, job.done, job.state) for job in reply.jobs]
    lines = []
    done: dict[str, int] = {}
    left: dict[str, int] = {}
    for key, count in reply.states.items():
        outcome, _, state = key.partition(":")
        (done if outcome == "done" else left)[state] = count
    if reply.done:
        lines.append(f"{done_word} {reply.done:,} of {reply.matched:,} selected jobs{_by_state(done, action)}")
    if left:
        lines.append(f"{sum(left.values()):,} not {done_word}: {_counts(left)}")
    return lines


def _job_line(action: str, job: str, done: bool, state: str) -> str:
    done_word = DONE_WORDS[action]
    if not done:
        if state == done_word:
            return f"{job}: {state} already"
        why = state_phrase(state)
        if action == "retry" and state == "succeeded":
            why += " (name it exactly to run it again)"
        return f"{job}: not {done_word}: {why}"
    if action == "cancel" and state != "cancelled":
        return f"cancelling {job}: it has not ended yet ({state})"
    if action == "retry" and state == "skipped":
        return f"retried {job}, skipped again: a job it waits for has not succeeded"
    return f"{done_word} {job}"


def state_phrase(state: str) -> str:
    """`it has succeeded`, `it is running`: a job's state in a sentence."""
    if state in ("succeeded", "failed"):
        return f"it has {state}"
    if state in ("cancelled", "skipped"):
        return f"it was {state}"
    return f"it is {state}"


def _by_state(done: dict[str, int], action: str) -> str:
    """`(now 2 running)` for a cancel whose jobs have not all ended yet, `(now 3 skipped)` for a retry of jobs
    that wait for one that has not succeeded."""
    unexpected = {"cancel": ("cancelled",), "retry": ("queued", "running", "succeeded", "failed", "retrying")}
    if action not in unexpected:
        return ""
    other = {state: count for state, count in done.items() if state not in unexpected[action]}
    return f" (now {_counts(other)})" if other else ""


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count:,} {state}" for state, count in sorted(counts.items(), key=lambda item: -item[1]))


def _reply_object(reply: Any) -> dict[str, Any]:
    return {
        "action": reply.action.value,
        "matched": reply.matched,
        "done": reply.done,
        "jobs": [{"job": job.job, "done": job.done, "state": job.state} for job in reply.jobs],
        "listed_all": len(reply.jobs) == reply.matched,
        "states": reply.states,
        "unmatched": reply.unmatched,
        "unknown_decks": reply.unknown_decks,
    }


# --- talking to the server -----------------------------------------------------------------------------------


def _ask(request: Any, *, start: bool, socket: Any, command: str) -> Any:
    """The server's reply, or the exit status after saying what went wrong. `start`: start a server if none
    runs (else there is nothing to act on)."""
    import anyio

    from runner.server import client

    async def run() -> Any:
        if start:
            connection = await client.ensure_server(socket)
        else:
            try:
                connection = await client.Client.connect(socket)
            except OSError:
                return None
        async with connection:
            return await connection.call(request)

    try:
        reply = anyio.run(run)
    except client.ServerError as error:
        _say_refused(command, error)
        return EXIT_BAD_INPUT if error.kind in REFUSED else EXIT_JOBS_FAILED
    if reply is None:
        print(f"jobdeck {command}: no jobdeck server runs, so there are no jobs to {command}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    return reply


def _say_refused(command: str, error: Any) -> None:
    from runner.server.messages import problem_from_dict

    problems = error.details.get("problems") if error.kind == "deck" else None
    if not problems:
        print(f"jobdeck {command}: {error.message}", file=sys.stderr)
        return
    for data in problems:
        problem = problem_from_dict(data)
        where = f"{problem.key}: " if problem.key else ""
        hint = f" ({problem.hint})" if problem.hint else ""
        print(f"jobdeck {command}: {where}{problem.message}{hint}", file=sys.stderr)
