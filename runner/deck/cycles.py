"""Finding the circles in which jobs wait for each other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycles(names: Sequence[str], waits_for: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The cycles a depth-first walk meets, each once, rotated to start at the earliest of `names`.

    Iterative, so a long chain of jobs cannot exhaust Python's recursion limit.
    """
    order = {name: position for position, name in enumerate(names)}
    finished: set[str] = set()
    seen: set[frozenset[str]] = set()
    cycles: list[list[str]] = []
    for start in names:
        if start in finished:
            continue
        path = [start]
        pending = [iter(waits_for.get(start, ()))]
        while pending:
            target = next(pending[-1], None)
            if target is None:
                finished.add(path.pop())
                pending.pop()
            elif target in path:
                cycle = path[path.index(target) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    first = min(range(len(cycle)), key=lambda position: order[cycle[position]])
                    cycles.append(cycle[first:] + cycle[:first])
            elif target not in finished:
                path.append(target)
                pending.append(iter(waits_for.get(target, ())))
    return cycles
