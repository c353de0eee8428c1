"""The table of live groups shared with the guardian: what jobdeck lists is what the guardian reads, at once."""

from __future__ import annotations

import os

from runner.procs.group_table import FIRST_SLOTS, GroupTable, groups_in


def test_the_guardian_reads_the_groups_listed_and_not_those_taken_off() -> None:
    table = GroupTable()
    reader = os.dup(table.fd)  # as the guardian holds it: another descriptor of the same file
    try:
        table.add(101)
        table.add(202)
        assert groups_in(reader) == {101, 202}
        table.discard(101)
        table.add(303)  # takes the freed slot
        assert groups_in(reader) == {202, 303}
        table.discard(999)  # never listed: nothing happens
        assert groups_in(reader) == {202, 303}
    finally:
        os.close(reader)
        table.close()


def test_the_table_grows_past_its_first_slots_and_keeps_every_group() -> None:
    table = GroupTable()
    reader = os.dup(table.fd)
    groups = set(range(1000, 1000 + 2 * FIRST_SLOTS + 5))
    try:
        for group in groups:
            table.add(group)
        assert groups_in(reader) == groups
        for group in list(groups)[::2]:
            table.discard(group)
            groups.discard(group)
        assert groups_in(reader) == groups
    finally:
        os.close(reader)
        table.close()
