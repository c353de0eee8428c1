"""`jobdeck completion bash|zsh`: a completion script made from the argument parser itself.

Every command, option and choice comes from `build_parser()` when the script is printed, so a command added to
the parser is completed without touching this module. What a value or a positional argument completes to is
read from its metavar: FILE and PATH are files, DECK names the server's decks, JOB its jobs (`DECK|JOB` both),
RUN the decks in the journal; choices complete to themselves. Names come from `jobdeck __complete`
(runner.cli.completion_names), which answers within about 100 ms or with nothing, and never starts a server.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from runner.cli.arguments import build_parser, dashboard_parser

NAMES_COMMAND = "__complete"
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
OPTION = re.compile(r"--?[A-Za-z0-9][A-Za-z0-9-]*")
DESCRIPTION_CHARS = 70


@dataclass
class Value:
    """What a value completes to: `files`, names (`decks`, `jobs`, `decks,jobs`, `runs`), `words`, or nothing."""

    kind: str = ""
    words: tuple[str, ...] = ()


@dataclass
class Option:
    names: tuple[str, ...]
    help: str
    value: Value | None
    """None: the option takes no value."""
    repeats: bool = False


@dataclass
class Command:
    name: str
    help: str
    options: list[Option] = field(default_factory=list)
    positional: Value | None = None
    """What its positional arguments complete to (None: it has none)."""
    many: bool = False
    """Whether it takes any number of positional arguments (else one)."""


def value_of(action: argparse.Action) -> Value:
    offered = getattr(action.type, "words", None)  # a type that reads a list of words says which
    if isinstance(offered, tuple):
        return Value("words", tuple(str(word) for word in offered if WORD.fullmatch(str(word))))
    if action.choices is not None:
        return Value("words", tuple(str(choice) for choice in action.choices if WORD.fullmatch(str(choice))))
    metavar = str(action.metavar or action.dest).upper()
    names = [kind for word, kind in (("DECK", "decks"), ("JOB", "jobs")) if word in metavar]
    if names:
        return Value(",".join(names))
    if "RUN" in metavar:
        return Value("runs")
    if "FILE" in metavar or "PATH" in metavar or action.type is Path:
        return Value("files")
    return Value()


def describe(action: argparse.Action | None, text: str | None = None) -> str:
    """The first clause of a help text, on one line."""
    help_text = text if text is not None else (action.help if action is not None else "") or ""
    if help_text == argparse.SUPPRESS:
        return ""
    line = " ".join(help_text.replace("%(default)s", "").split())
    line = re.split(r"[;(]", line, maxsplit=1)[0].strip().rstrip(",:")
    return line if len(line) <= DESCRIPTION_CHARS else line[: DESCRIPTION_CHARS - 1] + "…"


def options_of(parser: argparse.ArgumentParser) -> list[Option]:
    found = []
    for action in parser._actions:
        names = tuple(name for name in action.option_strings if OPTION.fullmatch(name))
        if not names or action.help == argparse.SUPPRESS:
            continue
        value = None if action.nargs == 0 else value_of(action)
        found.append(Option(names, describe(action), value, isinstance(action, argparse._AppendAction)))
    return found


def commands() -> tuple[Command, list[Command]]:
    """The top level (the dashboard's options and files) and each command, as the parsers define them."""
    parser, _ = build_parser()
    top = Command("", "", options_of(parser), Value("files"), many=True)
    known = {option.names for option in top.options}
    top.options += [option for option in options_of(dashboard_parser()) if option.names not in known]
    listed: list[Command] = []
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: describe(choice) for choice in action._choices_actions}
        for name, sub in action.choices.items():
            if name not in helps or not WORD.fullmatch(name):
                continue  # a hidden command
            command = Command(name, helps[name], options_of(sub))
            positionals = [item for item in sub._actions if not item.option_strings and item.nargs != 0]
            if positionals:
                command.positional = value_of(positionals[0])
                command.many = len(positionals) > 1 or positionals[0].nargs in ("*", "+", argparse.REMAINDER)
            listed.append(command)
    return top, listed


def completion_script(shell: str) -> str:
    top, listed = commands()
    return bash_script(top, listed) if shell == "bash" else zsh_script(top, listed)


# --- bash ----------------------------------------------------------------------------------------------------


def bash_value(value: Value | None, indent: str) -> str:
    """The bash that fills COMPREPLY with what `value` completes to."""
    if value is None or not value.kind:
        return f"{indent}return 0"
    if value.kind == "files":
        return f"{indent}_jobdeck_files; return 0"
    if value.kind == "words":
        return f'{indent}mapfile -t COMPREPLY < <(compgen -W "{" ".join(value.words)}" -- "$cur"); return 0'
    return f"{indent}_jobdeck_names {value.kind}; return 0"


def bash_command_case(command: Command, names: list[str]) -> str:
    """One command's branch of the `case "$command"`: the values of its options, then its options (a word that
    starts with -), else its positional arguments (at the top level: the commands, and files to open)."""
    label = command.name or '""'
    lines = [f"        {label})"]
    valued = [option for option in command.options if option.value is not None]
    if valued:
        lines.append('            case "$prev" in')
        for option in valued:
            lines.append(f"                {'|'.join(option.names)})")
            lines.append(bash_value(option.value, "                    ") + " ;;")
        lines.append("            esac")
    options = " ".join(name for option in command.options for name in option.names)
    offer = '            mapfile -t COMPREPLY < <(compgen -W "{words}" -- "$cur")'
    if command.positional is None or not command.positional.kind:
        lines.append(offer.format(words=options) + "; return 0 ;;")
        return "\n".join(lines)
    lines.append("            if [[ $cur == -* ]]; then")
    lines.append("    " + offer.format(words=options) + "; return 0")
    lines.append("            fi")
    if not command.name:
        lines.append(offer.format(words=" ".join(names)))
    lines.append(bash_value(command.positional, "            ") + " ;;")
    return "\n".join(lines)


def bash_script(top: Command, listed: list[Command]) -> str:
    names = [command.name for command in listed]
    valued_top = [name for option in top.options if option.value is not None for name in option.names]
    cases = "\n".join(bash_command_case(command, names) for command in [*listed, top])
    return BASH_TEMPLATE.replace("@VALUED_TOP@", "|".join(valued_top) or "--").replace("@CASES@", cases)


BASH_TEMPLATE = r"""# bash completion for jobdeck, made from its own options by `jobdeck completion bash`.
# Load it with: eval "$(jobdeck completion bash)"
_jobdeck_files() {
    compopt -o filenames 2>/dev/null
    local name
    while IFS= read -r name; do COMPREPLY+=("$name"); done < <(compgen -f -- "$cur")
}

_jobdeck_names() {
    # $1: decks, jobs, decks,jobs or runs. The program being completed answers within about 100 ms, or with
    # nothing; it never starts a server.
    local program=${COMP_WORDS[0]} name
    [[ $program == "~/"* ]] && program=$HOME/${program#"~/"}
    local -a asked=("$1" "${cur//\\/}")  # as typed, less the backslashes that quoted [ and ]
    [[ -n $socket ]] && asked+=(--socket "$socket")
    [[ -n $db ]] && asked+=(--db "$db")
    while IFS= read -r name; do
        [[ -n $name ]] && COMPREPLY+=("$(printf '%q' "$name")")
    done < <("$program" __complete "${asked[@]}" 2>/dev/null)
}

_jobdeck() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local command="" socket="" db="" options words i word
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            --socket) socket=${COMP_WORDS[i+1]} ;;
            --db) db=${COMP_WORDS[i+1]} ;;
        esac
        if [[ -z $command ]]; then
            case $word in
                @VALUED_TOP@) ((i++)) ;;
                -*) ;;
                *) command=$word ;;
            esac
        fi
    done
    case "$command" in
@CASES@
        *)
            _jobdeck_files; return 0 ;;
    esac
}

complete -F _jobdeck jobdeck
"""


# --- zsh -----------------------------------------------------------------------------------------------------


def zsh_quote(text: str) -> str:
    """Single-quoted for zsh."""
    return "'" + text.replace("'", "'\\''") + "'"


def zsh_help(text: str) -> str:
    """A description inside an _arguments spec's brackets."""
    return re.sub(r"([\[\]:\\])", r"\\\1", text)


def zsh_action(value: Value) -> str:
    if value.kind == "files":
        return "_files"
    if value.kind == "words":
        return "(" + " ".join(value.words) + ")"
    if value.kind:
        return f"_jobdeck_names {value.kind}"
    return " "


def zsh_specs(command: Command) -> list[str]:
    specs = []
    for option in command.options:
        value = "" if option.value is None else f":{option.names[-1].lstrip('-')}:{zsh_action(option.value)}"
        star = "*" if option.repeats else ""
        for name in option.names:
            specs.append(zsh_quote(f"{star}{name}[{zsh_help(option.help)}]{value}"))
    if command.positional is not None and command.name:
        action = zsh_action(command.positional)
        specs.append(zsh_quote(f"{'*' if command.many else ''}:{command.positional.kind or 'value'}:{action}"))
    return specs


def zsh_script(top: Command, listed: list[Command]) -> str:
    described = "\n".join(
        "        " + zsh_quote(f"{command.name}:{command.help.replace(':', ' ')}") for command in listed
    )
    cases = "\n".join(
        f"            ({command.name})\n                _arguments -s \\\n"
        + " \\\n".join(f"                    {spec}" for spec in zsh_specs(command))
        + " ;;"
        for command in listed
    )
    top_specs = " \\\n".join(f"        {spec}" for spec in zsh_specs(top))
    return ZSH_TEMPLATE.replace("@COMMANDS@", described).replace("@CASES@", cases).replace("@TOP_SPECS@", top_specs)


ZSH_TEMPLATE = r"""#compdef jobdeck
# zsh completion for jobdeck, made from its own options by `jobdeck completion zsh`.
# Load it with: eval "$(jobdeck completion zsh)" (after compinit)
_jobdeck_names() {
    # The last argument: decks, jobs, decks,jobs or runs, asked of the program being completed, which answers
    # within about 100 ms, or with nothing (it never starts a server); the others are for compadd.
    local -a names asked
    asked=(${@[-1]} "${(Q)PREFIX}")
    (( ${words[(I)--socket]} )) && asked+=(--socket "${words[${words[(I)--socket]}+1]}")
    (( ${words[(I)--db]} )) && asked+=(--db "${words[${words[(I)--db]}+1]}")
    names=("${(@f)$(${~_jobdeck_program} __complete "${asked[@]}" 2>/dev/null)}")
    names=(${names:#})
    compadd "${@[1,-2]}" -a names
}

_jobdeck() {
    local curcontext=$curcontext state line
    local -a commands
    typeset -g _jobdeck_program=${words[1]}
    commands=(
@COMMANDS@
    )
    _arguments -C -s \
@TOP_SPECS@ \
        '1: :->command' \
        '*:: :->args'
    case $state in
        (command)
            _describe -t commands 'jobdeck command' commands
            _files ;;
        (args)
            case $words[1] in
@CASES@
                (*) _files ;;
            esac ;;
    esac
}

compdef _jobdeck jobdeck
"""
