"""What a call job's module defines, read from its source with `ast`: no user code runs while a deck is checked.

Only what the source says for certain is claimed. A function defined once at the top level (or under a top-level
`if`/`try`) with no decorator has a known signature; a name bound any other way (an import, an assignment, a
class, a decorated or repeated def) is known to exist, nothing more; and a module that can make up names (a
module `__getattr__`, `import *`, `globals()`, `exec`) is not judged at all.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path

from runner.spelling import did_you_mean

SOURCE_LIMIT_BYTES = 8 * 2**20
"""A module larger than this is not read (it would slow every check down for little)."""
_DYNAMIC_CALLS = frozenset({"globals", "exec"})
"""Calls that can bind module names the source does not show (with `vars()` and `sys.modules[...]`)."""


@dataclass(frozen=True)
class Parameters:
    """A function's parameters, as its `def` line says."""

    name: str
    positional: tuple[str, ...]
    """Positional-only then positional-or-keyword parameters."""
    positional_only: int
    required: int
    """How many of `positional`, from the first, have no default."""
    varargs: str | None
    keyword_only: tuple[str, ...]
    required_keyword_only: tuple[str, ...]
    varkw: str | None
    line: int

    def signature(self) -> str:
        """`add(a, b=…, /, *args, scale=…, **options)`, as the def line reads without annotations."""
        parts = [name if index < self.required else f"{name}=…" for index, name in enumerate(self.positional)]
        if self.positional_only:
            parts.insert(self.positional_only, "/")
        if self.varargs is not None:
            parts.append(f"*{self.varargs}")
        elif self.keyword_only:
            parts.append("*")
        parts += [name if name in self.required_keyword_only else f"{name}=…" for name in self.keyword_only]
        if self.varkw is not None:
            parts.append(f"**{self.varkw}")
        return f"{self.name}({', '.join(parts)})"

    def call_problems(self, positional: int, keywords: Collection[str]) -> list[tuple[str, str, str | None]]:
        """(key, message, hint) for each way a call with `positional` arguments and these keywords would fail
        to bind, as Python's own TypeError would say it; key is "args" or "kwargs"."""
        found: list[tuple[str, str, str | None]] = []
        name = self.name
        if positional > len(self.positional) and self.varargs is None:
            most = len(self.positional)
            takes = f"{'at most ' if self.required < most else ''}{most} positional argument{_s(most)}"
            found.append(("args", f"{name}() takes {takes}, but args gives {positional}", None))
        filled = set(self.positional[:positional])
        named = set(self.positional[self.positional_only :]) | set(self.keyword_only)
        for keyword in keywords:
            if keyword in filled and keyword in named:
                found.append(("kwargs", f"{name}() gets {keyword!r} twice: from args and from kwargs", None))
            elif keyword in self.positional[: self.positional_only] and self.varkw is None:
                found.append(("kwargs", f"{keyword!r} of {name}() is positional-only", "give it in args"))
            elif keyword not in named and self.varkw is None:
                hint = did_you_mean(keyword, sorted(named - filled))
                found.append(("kwargs", f"{name}() has no parameter {keyword!r}", hint))
        missing = [
            parameter
            for parameter in self.positional[positional : self.required]
            if parameter not in keywords or parameter in self.positional[: self.positional_only]
        ]
        if missing:
            listed = ", ".join(map(repr, missing))
            found.append(("args", f"{name}() needs {len(missing)} more argument{_s(len(missing))}: {listed}", None))
        missing_keywords = [parameter for parameter in self.required_keyword_only if parameter not in keywords]
        if missing_keywords:
            listed = ", ".join(map(repr, missing_keywords))
            found.append(("kwargs", f"{name}() needs the keyword argument{_s(len(missing_keywords))} {listed}", None))
        return found


def _s(count: int) -> str:
    return "" if count == 1 else "s"


@dataclass(frozen=True)
class ModuleNames:
    """The names a module's source binds at its top level."""

    path: Path
    functions: dict[str, Parameters | None]
    """Names bound by a plain top-level `def`, with its parameters; None when not certain (decorated, bound
    more than once)."""
    others: frozenset[str]
    """Names bound any other way: they exist, but what they take is not known."""
    open_ended: bool
    """The module can make up names the source does not show: nothing may be claimed missing."""

    def has(self, name: str) -> bool:
        return self.open_ended or name in self.functions or name in self.others


def source_file(module: str, folder: Path) -> Path | None:
    """The source file `module` would be imported from by a call job of a deck in `folder` (beside the job file
    first, as runner.procs.callables looks, then on the Python path), found without importing anything; None
    when it is not a plain Python source file."""
    parts = module.split(".")
    stem = folder.joinpath(*parts)
    for candidate in (stem.with_name(stem.name + ".py"), stem / "__init__.py"):
        if candidate.is_file():
            return candidate
    top = folder / parts[0]
    if top.exists() or top.with_name(top.name + ".py").exists():
        return None  # its package is beside the job file, which a module of the same name elsewhere is not
    return _source_on_path(parts)


def _source_on_path(parts: list[str]) -> Path | None:
    """A module's source on sys.path, found the way the import system would, without running any package."""
    search: list[str] | None = list(sys.path)
    origin: str | None = None
    for depth in range(len(parts)):
        if search is None:
            return None
        try:
            spec = PathFinder.find_spec(".".join(parts[: depth + 1]), search)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        origin = spec.origin
        locations = spec.submodule_search_locations
        search = list(locations) if locations is not None else None
    if origin is None or not origin.endswith(".py"):
        return None
    return Path(origin)


def read_module(path: Path) -> ModuleNames | SyntaxError | None:
    """What the source at `path` binds at its top level; its SyntaxError if it does not parse; None when it
    cannot be read or is too large to be worth it."""
    try:
        if path.stat().st_size > SOURCE_LIMIT_BYTES:
            return None
        source = path.read_bytes()
    except OSError:
        return None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as error:
        return error
    except ValueError:  # NUL bytes
        return None
    return _names_of(tree, path)


def _names_of(tree: ast.Module, path: Path) -> ModuleNames:
    defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    others: set[str] = set()
    open_ended = False
    for statement in _top_level(tree.body):
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            defs.setdefault(statement.name, []).append(statement)
        elif isinstance(statement, ast.ImportFrom) and any(alias.name == "*" for alias in statement.names):
            open_ended = True
        else:
            others.update(_bound_by(statement))
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            others.update(node.names)  # a function may bind them when it runs
        elif _binds_names_unseen(node):
            open_ended = True
    if "__getattr__" in defs or "__getattr__" in others:
        open_ended = True
    if path.name == "__init__.py":  # a package's submodules become its attributes once anything imports them
        others.update(_submodules(path.parent))
    functions: dict[str, Parameters | None] = {}
    for name, found in defs.items():
        certain = len(found) == 1 and not found[0].decorator_list and name not in others and not open_ended
        functions[name] = _parameters(found[0]) if certain else None
    return ModuleNames(path, functions, frozenset(others - functions.keys()), open_ended)


def _binds_names_unseen(node: ast.AST) -> bool:
    """`globals()`, `exec(...)`, `vars()` or `sys.modules[...]`: names may be bound that the source does not show."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in _DYNAMIC_CALLS or (node.func.id == "vars" and not node.args)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
        owner = node.value.value
        return node.value.attr == "modules" and isinstance(owner, ast.Name) and owner.id == "sys"
    return False


def _top_level(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """The statements that run at the module's top level, also those under `if`, `try`, `with`, `for` and
    `while` (but not inside functions and classes)."""
    for statement in body:
        if isinstance(statement, ast.If | ast.For | ast.AsyncFor | ast.While):
            yield from _bound_statements(statement)
            yield from _top_level(statement.body)
            yield from _top_level(statement.orelse)
        elif isinstance(statement, ast.With | ast.AsyncWith):
            yield from _bound_statements(statement)
            yield from _top_level(statement.body)
        elif isinstance(statement, ast.Try | ast.TryStar):
            yield from _top_level(statement.body)
            for handler in statement.handlers:
                if handler.name:
                    yield ast.Assign(targets=[ast.Name(handler.name, ast.Store())], value=ast.Constant(None))
                yield from _top_level(handler.body)
            yield from _top_level(statement.orelse)
            yield from _top_level(statement.finalbody)
        elif isinstance(statement, ast.Match):
            yield from _bound_statements(statement)
            for case in statement.cases:
                yield from _top_level(case.body)
        else:
            yield statement


def _bound_statements(statement: ast.stmt) -> Iterable[ast.stmt]:
    """A compound statement's own bindings (`for x in`, `with ... as x`, `if (x := ...)`, `case [x]`), without
    its body, as one statement whose names `_bound_by` finds."""
    header: list[ast.AST] = []
    if isinstance(statement, ast.For | ast.AsyncFor):
        header = [statement.target, statement.iter]
    elif isinstance(statement, ast.If | ast.While):
        header = [statement.test]
    elif isinstance(statement, ast.With | ast.AsyncWith):
        header = list(statement.items)
    elif isinstance(statement, ast.Match):
        header = [statement.subject, *(case.pattern for case in statement.cases)]
    names = {name for node in header for name in _names_stored(node)}
    if names:
        yield ast.Assign(targets=[ast.Name(name, ast.Store()) for name in names], value=ast.Constant(None))


def _bound_by(statement: ast.stmt) -> set[str]:
    if isinstance(statement, ast.ClassDef):
        return {statement.name}
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).partition(".")[0] for alias in statement.names}
    return _names_stored(statement)


def _names_stored(node: ast.AST) -> set[str]:
    """Names a statement or expression binds, not looking into functions, lambdas, classes or comprehensions
    (whose names are their own), except for `:=`, which binds in the enclosing scope."""
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store | ast.Del):
            names.add(current.id)
        elif isinstance(current, ast.MatchAs | ast.MatchStar) and current.name:
            names.add(current.name)
        elif isinstance(current, ast.MatchMapping) and current.rest:
            names.add(current.rest)
        elif isinstance(current, ast.NamedExpr) and isinstance(current.target, ast.Name):
            names.add(current.target.id)
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(current, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            stack.extend(node for node in ast.walk(current) if isinstance(node, ast.NamedExpr))
            continue
        stack.extend(ast.iter_child_nodes(current))
    return names


def _submodules(folder: Path) -> set[str]:
    try:
        return {
            child.stem if child.suffix == ".py" else child.name
            for child in folder.iterdir()
            if (child.suffix == ".py" and child.stem != "__init__") or (child / "__init__.py").is_file()
        }
    except OSError:
        return set()


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Parameters:
    arguments = node.args
    positional = tuple(argument.arg for argument in [*arguments.posonlyargs, *arguments.args])
    return Parameters(
        name=node.name,
        positional=positional,
        positional_only=len(arguments.posonlyargs),
        required=len(positional) - len(arguments.defaults),
        varargs=arguments.vararg.arg if arguments.vararg else None,
        keyword_only=tuple(argument.arg for argument in arguments.kwonlyargs),
        required_keyword_only=tuple(
            argument.arg
            for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
            if default is None
        ),
        varkw=arguments.kwarg.arg if arguments.kwarg else None,
        line=node.lineno,
    )
