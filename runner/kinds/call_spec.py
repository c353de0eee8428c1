"""Call jobs as a job file writes them: `call = "module:function"` with args, kwargs and on."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.deck.dask_address import DASK_INLINE, scheduler_address
from runner.deck.job_environment import (
    CWD_KEY,
    ENV_KEY,
    JobEnvironment,
    env_summary,
    filled_env,
    read_job_environment,
)
from runner.deck.lookalikes import Lookalike, Renamed
from runner.deck.problems import did_you_mean
from runner.deck.table import MISSING, Table, describe, short
from runner.deck.templates import NO_ITEM, TemplateText, fill_value
from runner.kinds.call_source import ModuleNames, read_module, source_file
from runner.kinds.spec import DeckPlace, ItemsChecked, KindSpec
from runner.model import CallSpec, Kind, replaced
from runner.redaction import VALUE_PREVIEW_CHARS, redact_value, shorten
from runner.spelling import closest

if TYPE_CHECKING:
    from runner.kinds.base import JobKind

CALL_PLACES = ("process", "thread", "dask")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class CallKindSpec(KindSpec[CallSpec, CallSpec]):
    kind = Kind.CALL
    refills = True
    keys = ("call", "args", "kwargs", "on", ENV_KEY, CWD_KEY)
    example = 'call = "module:function"'
    lookalikes: Mapping[str, Lookalike] = {
        **dict.fromkeys(
            ("function", "func", "fn", "target", "callable", "python", "module", "entrypoint", "entry_point"),
            Renamed("call", example='"module:function"'),
        ),
        **dict.fromkeys(("arguments", "argv", "params", "parameters", "positional"), Renamed("args")),
        **dict.fromkeys(("kw", "keywords", "keyword_args", "keyword_arguments", "options"), Renamed("kwargs")),
        **dict.fromkeys(
            ("executor", "runner", "backend", "where", "pool", "run_on"),
            Renamed("on", meaning='"process", "thread" or "dask"'),
        ),
    }

    def read(self, table: Table, place: DeckPlace) -> CallSpec | None:
        target = table.text("call", example='"tasks:count_primes"')
        args = table.array("args", example="[1, 2]")
        kwargs = table.table("kwargs", example="{ limit = 10 }")
        on, cluster = _call_place(table)
        environment = _call_environment(table, place, on)
        split = _call_target(table, target) if target is not None else None
        if split is None:
            return None
        module, function = split
        # A Dask job's module need only exist on the workers, which check it before it runs.
        if on != "dask" and _check_module_findable(table, place, module):
            arguments_read = (args is not None or not table.has("args")) and (
                kwargs is not None or not table.has("kwargs")
            )
            _check_function(table, place, module, function, (args or []) if arguments_read else None, kwargs or {})
        return CallSpec(  # interned: 100,000 `[[job]]` tables calling one function keep one copy of each name
            module=sys.intern(module),
            function=sys.intern(function),
            args=tuple(args or ()),
            kwargs=kwargs or {},
            on=sys.intern(on),
            base_dir=place.folder,
            cluster=cluster,
            env=dict(environment.env),
            cwd=environment.cwd,
        )

    def template_texts(self, template: CallSpec) -> Iterable[TemplateText]:
        yield from (TemplateText("args", text) for text in _strings_in(template.args))
        yield from (TemplateText("kwargs", text) for text in _strings_in(template.kwargs))
        yield from (TemplateText(ENV_KEY, value) for value in template.env.values())

    def for_item(self, template: CallSpec, item: Any, table: Table, place: DeckPlace) -> CallSpec:
        return template if item is NO_ITEM else _filled(template, item)

    def refill(self, template: CallSpec, item: Any) -> CallSpec:
        return _filled(template, item)

    def check_items(
        self, template: CallSpec, items: Sequence[Any], texts: Sequence[str], table: Table, place: DeckPlace
    ) -> ItemsChecked:
        return ItemsChecked(len(items))  # an item only fills in arguments: nothing about it to check

    def target(self, work: CallSpec) -> str:
        return work.target

    def summary_lines(self, work: CallSpec) -> Iterable[tuple[str, str]]:
        yield "target", work.target
        if work.args:
            yield "args", shorten(", ".join(repr(arg) for arg in work.args), VALUE_PREVIEW_CHARS)
        if work.kwargs:
            text = ", ".join(f"{name}={redact_value(name, value)}" for name, value in work.kwargs.items())
            yield "kwargs", shorten(text, VALUE_PREVIEW_CHARS)
        yield "on", work.on
        if work.cwd is not None:
            yield CWD_KEY, str(work.cwd)
        if work.env:
            yield ENV_KEY, env_summary(work.env)

    def wire_fields(self, work: CallSpec) -> dict[str, Any]:
        return {"target": work.target, "on": work.on}

    def runner(self) -> JobKind:
        from runner.kinds.call import CallKind

        return CallKind()


CALL = CallKindSpec()


def _filled(template: CallSpec, item: Any) -> CallSpec:
    # No keyword arguments (the usual case): every item shares the template's empty dict.
    kwargs = fill_value(template.kwargs, item) if template.kwargs else template.kwargs
    env = filled_env(template.env, item) if template.env else template.env
    return replaced(template, args=tuple(fill_value(list(template.args), item)), kwargs=kwargs, env=env)


def _call_environment(table: Table, place: DeckPlace, on: str) -> JobEnvironment:
    """The call's env and cwd over the deck's: a thread shares jobdeck's environment, and a Dask worker is
    another machine's, so those refuse what they cannot honour (a deck's defaults are left to its processes)."""
    environment = read_job_environment(table, place.folder, place.environ)
    if on == "thread" and environment.env:
        table.report(
            ENV_KEY,
            "a call on a thread cannot have variables of its own: every thread shares jobdeck's environment",
            'run it on a process (on = "process"), or pass the values as arguments',
        )
    if on not in ("process", "thread"):
        for key in (ENV_KEY, CWD_KEY):
            if table.has(key):
                table.report(
                    key, f"a call on Dask cannot set {key}", 'set it on the Dask workers, or use on = "process"'
                )
        return JobEnvironment()
    if on == "thread":
        return JobEnvironment(cwd=environment.cwd if environment.cwd is not None else place.defaults.cwd)
    return environment.under(place.defaults)


def _strings_in(value: Any) -> Iterable[str]:
    """Every string in an argument, however deep in lists and tables (the texts `{item}` is filled into)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for element in value:
            yield from _strings_in(element)
    elif isinstance(value, dict):
        for element in value.values():
            yield from _strings_in(element)


def _call_place(table: Table) -> tuple[str, str | None]:
    """Where the call runs, and for `on = "dask://host:port"` that scheduler's address."""
    on = table.raw("on")
    if on is MISSING:
        return "process", None
    if isinstance(on, str) and on.startswith(DASK_INLINE):
        address, problem = scheduler_address(on.strip()[len(DASK_INLINE) :], schemes=())
        if problem is not None:
            table.report(
                "on",
                f"{on!r} is not a Dask scheduler address: {problem}",
                'e.g. on = "dask://10.0.0.5:8786", or on = "dask" for the deck\'s cluster',
            )
        return "dask", address
    if on not in CALL_PLACES:
        places = '"process", "thread", "dask" or "dask://host:port"'
        if isinstance(on, str):  # the right type: name the value, and the place it was probably meant to be
            near = closest(on, CALL_PLACES)
            hint = f"did you mean on = {json.dumps(near)}?" if near is not None else None
            table.report("on", f"must be {places}, not {json.dumps(on)}", hint)
        else:
            table.report("on", f"must be {places}, not {describe(on)}")
        return "process", None
    return str(on), None


def _call_target(table: Table, target: str) -> tuple[str, str] | None:
    module, colon, function = target.strip().partition(":")
    if not colon:
        module, dot, function = target.strip().rpartition(".")
        hint = f'did you mean call = "{module}:{function}"?' if dot else 'e.g. call = "tasks:main"'
        table.report("call", f"must be written module:function, not {target!r}", hint)
        return None
    if not all(_IDENTIFIER.fullmatch(part) for part in module.split(".")):
        table.report("call", f"{module!r} is not a Python module name", 'e.g. call = "tasks:main"')
        return None
    if not _IDENTIFIER.fullmatch(function):
        table.report("call", f"{function!r} is not a Python function name", 'e.g. call = "tasks:main"')
        return None
    return module, function


def _check_module_findable(table: Table, place: DeckPlace, module: str) -> bool:
    """Find the module without importing any user code: beside the job file, or on the Python path."""
    key = ("module findable", module)
    if key not in place.memo:  # many jobs of one deck call into the same module
        place.memo[key] = _module_findable(place, module)
    if place.memo[key]:
        return True
    top = module.split(".")[0]
    table.report(
        "call",
        f"module {module!r} not found beside the job file ({place.folder}) or on the Python path",
        did_you_mean(top, _python_files_beside(place)) or f"put {top}.py next to the job file",
    )
    return False


def _check_function(
    table: Table, place: DeckPlace, module: str, function: str, args: list[Any] | None, kwargs: dict[str, Any]
) -> None:
    """The function exists in the module's source and takes these arguments (`args` None: they were bad, and
    reported), as far as the source says for certain; nothing is imported."""
    names = _module_names(place, module)
    if names is None:
        return
    if isinstance(names, SyntaxError):
        key = ("syntax error reported", module)
        if key not in place.memo:  # once, not once per job that calls into it
            place.memo[key] = True
            where = f"{_shown(names.filename, place)}, line {names.lineno}"
            table.report("call", f"module {module!r} cannot be imported: {names.msg} ({where})", "fix the module")
        return
    file = _shown(str(names.path), place)
    if not names.has(function):
        defined = sorted(names.functions) or sorted(name for name in names.others if not name.startswith("_"))
        listing = f"it defines {short(', '.join(defined))}" if defined else "it defines no functions"
        hint = did_you_mean(function, [*names.functions, *names.others]) or listing
        table.report("call", f"module {module!r} ({file}) has no function {function!r}", hint)
        return
    parameters = names.functions.get(function)
    if parameters is None or args is None:
        return
    shape = ("call shape", module, function, len(args), tuple(kwargs))
    if shape not in place.memo:  # asked once per distinct way of calling the function, however many jobs do
        place.memo[shape] = parameters.call_problems(len(args), list(kwargs))
    defined = f"it is defined as {parameters.signature()} in {file}, line {parameters.line}"
    for key, message, hint in place.memo[shape]:
        where = key if table.has(key) else "call"
        table.report(where, message, f"{hint}; {defined}" if hint else defined)


def _module_names(place: DeckPlace, module: str) -> ModuleNames | SyntaxError | None:
    key = ("module names", module)
    if key not in place.memo:
        path = source_file(module, place.folder)
        place.memo[key] = read_module(path) if path is not None else None
    names: ModuleNames | SyntaxError | None = place.memo[key]
    return names


def _shown(path: str | None, place: DeckPlace) -> str:
    """A module's file as a message names it: relative to the job file's folder when it is inside it."""
    if path is None:
        return "its file"
    try:
        return str(Path(path).relative_to(place.folder))
    except ValueError:
        return path


def _module_findable(place: DeckPlace, module: str) -> bool:
    top = module.split(".")[0]
    module_path = place.folder.joinpath(*module.split("."))
    beside = [module_path.with_suffix(".py"), module_path / "__init__.py", place.folder / top / "__init__.py"]
    return any(candidate.is_file() for candidate in beside) or _importable(top)


def _python_files_beside(place: DeckPlace) -> list[str]:
    try:
        return [child.stem for child in place.folder.iterdir() if child.suffix == ".py" or child.is_dir()]
    except OSError:
        return []


def _importable(top_level_name: str) -> bool:
    try:
        return importlib.util.find_spec(top_level_name) is not None
    except (ImportError, ValueError):
        return False
