"""Duplicate groups from scored pairs (union-find, pure)."""

from __future__ import annotations

from collections.abc import Iterable


def connected_groups(pairs: Iterable[tuple[str, str, float]], threshold: float) -> list[tuple[float, list[str]]]:
    """Groups ``(score, sorted ids)`` of items linked by pairs scoring >= ``threshold``.

    A group's score is the lowest score of the links that built it (its weakest
    link). Groups are sorted by score, best first.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    weakest: dict[str, float] = {}
    for a, b, s in sorted(pairs, key=lambda p: -p[2]):
        if s < threshold or a == b:
            continue
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
            weakest[ra] = min(s, weakest.get(ra, s), weakest.pop(rb, s))
    members: dict[str, list[str]] = {}
    for x in parent:
        members.setdefault(find(x), []).append(x)
    out = [(weakest[r], sorted(m)) for r, m in members.items() if len(m) > 1]
    out.sort(key=lambda g: (-g[0], g[1]))
    return out
