"""The job kinds jobdeck knows: one line each. A job file names a kind by its key (`fetch = ...`).

Adding a kind: write its KindSpec (and the JobKind that runs it) in one module of this package, and list its
spec here. The deck parser, the engine's default kinds, the detail view's lines and the wire view all ask this
registry; none of them names a kind.
"""

from __future__ import annotations

from typing import Any

from runner.kinds.call_spec import CALL
from runner.kinds.fetch_spec import FETCH
from runner.kinds.shell_spec import SHELL
from runner.kinds.spec import KindSpec
from runner.model import Kind

KIND_SPECS: dict[Kind, KindSpec[Any, Any]] = {spec.kind: spec for spec in (FETCH, CALL, SHELL)}


def kind_spec(kind: Kind) -> KindSpec[Any, Any]:
    return KIND_SPECS[kind]
