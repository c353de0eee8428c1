"""Shell jobs as a job file writes them: `shell = "command"`, run in the job file's folder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
    keys = ("shell",)
    example = 'shell = "command"'
    lookalikes: Mapping[str, Lookalike] = dict.fromkeys(
        ("command", "cmd", "run", "script", "exec", "sh", "bash"),
        Renamed("shell", meaning="it runs under /bin/sh in the job file's folder"),
    )

    def read(self, table: Table, place: DeckPlace) -> ShellSpec | None:
        command = table.text("shell", example='"make all"')
        return ShellSpec(command=command, cwd=place.folder) if command is not None else None

    def template_texts(self, template: ShellSpec) -> Iterable[TemplateText]:
        yield TemplateText("shell", template.command)

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

    def wire_fields(self, work: ShellSpec) -> dict[str, Any]:
        return {"command": redact_text(work.command), "cwd": str(work.cwd)}

    def runner(self) -> JobKind:
        from runner.kinds.shell import ShellKind

        return ShellKind()


SHELL = ShellKindSpec()


def _filled(template: ShellSpec, item: Any) -> ShellSpec:
    return replaced(template, command=fill_text(template.command, item))
