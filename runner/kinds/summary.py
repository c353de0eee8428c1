"""What is shown of a job's spec: the detail view's redacted (key, value) lines, and the spec's wire fields.

The common keys (item, after, retries, timeout) are written here once; each kind adds its own part
(runner.kinds.spec.KindSpec.summary_lines and wire_fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.kinds.registry import kind_spec
from runner.masking import NO_SECRETS, SecretMask
from runner.model import JobSpec
from runner.redaction import VALUE_PREVIEW_CHARS, shorten

AS_WRITTEN = "as written"
"""The key of the line that shows, under a line with `${VAR}`s filled in, how the job file writes it."""


def spec_summary(
    spec: JobSpec, environ: Mapping[str, str] | None = None, mask: SecretMask = NO_SECRETS
) -> list[tuple[str, str]]:
    """The lines to show for a job's spec, as (key, value) pairs, secrets redacted.

    A value may span several lines (one header per line); optional keys appear only when they say something.
    With the `environ` the job runs in, a line that names what the job sends (a fetch's URL) says it with the
    `${VAR}`s filled in and masked by `mask`, followed by the line as written in the file.
    """
    kind = kind_spec(spec.kind)
    lines: list[tuple[str, str]] = [("kind", spec.kind.value)]
    sent = kind.sent_lines(spec.work, environ) if environ is not None else {}
    for key, value in kind.summary_lines(spec.work):
        if key in sent:
            lines += [(key, mask.text(sent[key])), (AS_WRITTEN, value)]
        else:
            lines.append((key, value))
    if spec.group is not None:
        lines.append(("item", f"{shorten(repr(spec.item), VALUE_PREVIEW_CHARS)} (of {spec.group})"))
    if spec.after:
        lines.append(("after", ", ".join(spec.after)))
    if spec.run_if is not None:
        lines.append(("run_if", f"{spec.run_if}" if spec.after else f"{spec.run_if}, after the rest of the deck"))
    if spec.on_failure:
        lines.append(("on_failure", mask.text(spec.on_failure)))
    if spec.retries:
        lines.append(("retries", f"{spec.retries}, backoff {_seconds(spec.backoff)}"))
    else:
        lines.append(("retries", "none"))
    lines.append(("timeout", _seconds(spec.timeout) if spec.timeout > 0 else "none"))
    return lines


def wire_fields(spec: JobSpec) -> dict[str, Any]:
    """The kind's own fields of a spec's wire summary, with `target`: what the job works on, for any kind."""
    kind = kind_spec(spec.kind)
    return {**kind.wire_fields(spec.work), "target": kind.target(spec.work)}


def _seconds(value: float) -> str:
    return f"{value:g} s"
