"""Shell jobs as a job file writes them: `shell = "command"`, run in the job file's folder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runner.deck.job_environment import CWD_KEY, ENV_KEY, env_summary, filled_env, read_job_environment
from runner.deck.lookalikes import Lookalike, Renamed
from runner.deck.table import Table
from runner.deck.templates import ITEM, NO_ITEM, TemplateText, fill_text
from runner.kinds.spec import DeckPlace, ItemsChecked, KindSpec
from runner.model import Kind, ShellSpec, replaced
from runner.redaction import redact_text

if TYPE_CHECKING:
    from runner.kinds.base import JobKind


class ShellKindSpec(KindSpec[ShellSpec, ShellSpec]):
    kind = Kind.SHELL
    refills = True
    keys = ("shell", ENV_KEY, CWD_KEY)
    example = 'shell = "command"'
    lookalikes: Mapping[str, Lookalike] = dict.fromkeys(
        ("command", "cmd", "run", "script", "exec", "sh", "bash"),
        Renamed("shell", meaning="it runs under /bin/sh in the job file's folder"),
    )

    def read(self, table: Table, place: DeckPlace) -> ShellSpec | None:
        command = table.text("shell", example='"make all"')
        environment = read_job_environment(table, place.folder, place.environ).under(place.defaults)
        if command is None:
            return None
        return ShellSpec(command=command, cwd=environment.cwd or place.folder, env=dict(environment.env))

    def template_texts(self, template: ShellSpec) -> Iterable[TemplateText]:
        yield TemplateText("shell", template.command)
        yield from (TemplateText(ENV_KEY, value) for value in template.env.values())

    def for_item(self, template: ShellSpec, item: Any, table: Table, place: DeckPlace) -> ShellSpec | None:
        if item is NO_ITEM:
            return template
        work = _filled(template, item)
        if not work.command.strip():
            table.report("shell", "the command is empty for this item", "give each a non-empty value")
            return None
        return work

    def refill(self, template: ShellSpec, item: Any) -> ShellSpec:
        return _filled(template, item)

    def check_items(
        self, template: ShellSpec, items: Sequence[Any], texts: Sequence[str], table: Table, place: DeckPlace
    ) -> ItemsChecked:
        if template.command.replace(ITEM, "").strip():
            return ItemsChecked(len(items))  # no item can empty the command
        return super().check_items(template, items, texts, table, place)

    def target(self, work: ShellSpec) -> str:
        return redact_text(work.command)

    def summary_lines(self, work: ShellSpec) -> Iterable[tuple[str, str]]:
        yield "command", redact_text(work.command)
        yield "cwd", str(work.cwd)
        if work.env:
            yield ENV_KEY, env_summary(work.env)

    def wire_fields(self, work: ShellSpec) -> dict[str, Any]:
        return {"command": redact_text(work.command), "cwd": str(work.cwd)}

    def runner(self) -> JobKind:
        from runner.kinds.shell import ShellKind

        return ShellKind()


SHELL = ShellKindSpec()


def _filled(template: ShellSpec, item: Any) -> ShellSpec:
    if not template.env:
        return replaced(template, command=fill_text(template.command, item))
    return replaced(template, command=fill_text(template.command, item), env=filled_env(template.env, item))
