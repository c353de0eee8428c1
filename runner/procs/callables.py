"""Find the function a call job names: `module:function`, with the module looked up beside the job file first.

Used by process workers (runner.procs.worker_main) and by thread jobs in the main process, so it stays light to
import and is safe to call from several threads at once.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from runner.errors import JobError, describe_error
from runner.procs.file_stamps import Stamp, file_stamp
from runner.spelling import closest

_import_lock = threading.RLock()

Signature = Stamp
"""A file's (modification time in ns, size), or None when it is not a regular file (or not there)."""

_loaded_from_job_dirs: dict[str, tuple[str, Signature]] = {}
"""Module name -> (file, signature) for every module this file imported from a job file's folder."""

_resolved: dict[tuple[str, str], tuple[ModuleType, tuple[tuple[str, Signature], ...]]] = {}
"""(module name, job file's folder) -> (module, checks): the module an earlier call found, valid while it is
still the one in sys.modules and every (path, signature) check still holds. Read without the lock."""


def resolve_callable(module: str, function: str, base_dir: Path | str) -> Callable[..., Any]:
    """Return `module.function`, importing the module from `base_dir` if it lives there, else from sys.path.

    A module of the same name already loaded from another file (another deck's `tasks.py`), or from the
    same file before it was edited, is evicted with its submodules first, so the job always gets the file
    it names. Every failure raises a non-retryable JobError that says what to fix.

    Repeated calls are cheap and take no lock: the module found last time is reused while it is still the
    one in sys.modules and its file (or, for a module from sys.path, the absence of one beside the job
    file) is unchanged, which costs one or two stat calls (runner.procs.file_stamps).
    """
    key = (module, os.fspath(base_dir))
    cached = _resolved.get(key)
    if cached is not None:
        loaded, checks = cached
        if sys.modules.get(module) is loaded and all(file_stamp(path) == expected for path, expected in checks):
            return _find_function(loaded, module, function)
    with _import_lock:
        loaded = _import(module, Path(base_dir), key)
    return _find_function(loaded, module, function)


def _import(module: str, base_dir: Path, key: tuple[str, str]) -> ModuleType:
    plain, package = _candidates(module, base_dir)
    plain_signature = file_stamp(plain)
    if plain_signature is not None:
        checks: tuple[tuple[str, Signature], ...] = ((plain, plain_signature),)
        loaded = _import_from_job_dir(module, Path(plain).resolve(), plain_signature, base_dir)
    else:
        package_signature = file_stamp(package)
        # Watch for the plain module too: if one appears, it is what the job names from then on.
        checks = ((plain, None), (package, package_signature))
        if package_signature is not None:
            loaded = _import_from_job_dir(module, Path(package).resolve(), package_signature, base_dir)
        else:
            loaded = _import_from_path(module, base_dir)
    _resolved[key] = (loaded, checks)
    return loaded


def _import_from_path(module: str, base_dir: Path) -> ModuleType:
    if module in _loaded_from_job_dirs:
        # Loaded from another deck's folder earlier; this job wants the one on sys.path.
        _evict(module)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and _is_same_or_parent(error.name, module):
            raise JobError(
                f"cannot import module {module!r}: not found beside the job file ({base_dir}) or on the Python path"
            ) from None
        raise _import_failed(module, error) from None
    except (Exception, SystemExit) as error:
        raise _import_failed(module, error) from None


def _import_from_job_dir(module: str, local_file: Path, signature: Signature, base_dir: Path) -> ModuleType:
    stamp = (str(local_file), signature)
    current = sys.modules.get(module)
    if current is not None:
        recorded = _loaded_from_job_dirs.get(module)
        if recorded == stamp or (recorded is None and _file_of(current) == stamp[0]):
            _loaded_from_job_dirs[module] = stamp  # adopt a module someone else imported from this very file
            return current
        _evict(module)
    top_level = module.partition(".")[0]
    if top_level != module and not _is_package_in(sys.modules.get(top_level), base_dir / top_level):
        _evict(top_level)  # a same-named package from elsewhere would resolve the dotted name wrongly
    entry = str(base_dir)
    sys.path.insert(0, entry)
    try:
        importlib.invalidate_caches()  # the file may be new or edited since the import system last looked
        loaded = importlib.import_module(module)
    except (Exception, SystemExit) as error:
        raise _import_failed(module, error) from None
    finally:
        if entry in sys.path:
            sys.path.remove(entry)
    _loaded_from_job_dirs[module] = stamp
    return loaded


def _import_failed(module: str, error: BaseException) -> JobError:
    import traceback

    return JobError(
        f"cannot import module {module!r}: {describe_error(error)}",
        traceback="".join(traceback.format_exception(error)),
    )


def _candidates(module: str, base_dir: Path) -> tuple[str, str]:
    """The files that would define `module` inside `base_dir`: a plain module, then a package."""
    stem = base_dir.joinpath(*module.split("."))
    return str(stem.with_name(stem.name + ".py")), str(stem / "__init__.py")


def _evict(top_level: str) -> None:
    """Forget `top_level` and its submodules so the next import reads files again."""
    prefix = top_level + "."
    for name in [name for name in sys.modules if name == top_level or name.startswith(prefix)]:
        del sys.modules[name]
        _loaded_from_job_dirs.pop(name, None)
    for key in [key for key in _resolved if key[0] == top_level or key[0].startswith(prefix)]:
        _resolved.pop(key, None)


def _find_function(loaded: ModuleType, module: str, function: str) -> Callable[..., Any]:
    missing = object()
    target = getattr(loaded, function, missing)
    if target is missing:
        message = f"module {module!r} has no function {function!r}"
        suggestion = _closest_callable(loaded, function)
        if suggestion is not None:
            message += f" (did you mean {suggestion!r}?)"
        raise JobError(message)
    if not callable(target):
        raise JobError(f"'{module}:{function}' is not callable (it is {type(target).__name__})")
    return target


def _closest_callable(loaded: ModuleType, function: str) -> str | None:
    """The module's function nearest to the name, by the same rule `jobdeck check` suggests one."""
    candidates = [
        name
        for name, value in vars(loaded).items()
        if callable(value) and not isinstance(value, ModuleType) and not name.startswith("__")
    ]
    return closest(function, candidates)


def _is_same_or_parent(name: str, module: str) -> bool:
    return module == name or module.startswith(name + ".")


def _file_of(module: ModuleType) -> str | None:
    file_name = getattr(module, "__file__", None)
    return str(Path(file_name).resolve()) if file_name else None


def _is_package_in(module: ModuleType | None, directory: Path) -> bool:
    if module is None:
        return False
    locations = getattr(module, "__path__", None) or []
    return any(Path(location).resolve() == directory.resolve() for location in locations)
