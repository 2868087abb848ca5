"""Clustering with a guard against chaining.

Nodes are merged along accepted links, strongest first (Kruskal order). A
merge is refused when the two clusters each hold a different valid ID, or
each hold a different known birth date: a weak record cannot then chain two
different people together, and the refused link goes to review instead.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

__all__ = ["Clusters"]


@dataclass
class Clusters:
    parent: dict[Hashable, Hashable] = field(default_factory=dict)
    ids: dict[Hashable, str | None] = field(default_factory=dict)
    births: dict[Hashable, object] = field(default_factory=dict)

    def add(self, node: Hashable, *, id_key: str | None = None, birth: object = None) -> None:
        """Register ``node`` (idempotent); a node's own ID and birth date seed its cluster's guard."""
        if node not in self.parent:
            self.parent[node] = node
            self.ids[node] = id_key
            self.births[node] = birth
            return
        root = self.find(node)
        if self.ids[root] is None:
            self.ids[root] = id_key
        if self.births[root] is None:
            self.births[root] = birth

    def find(self, node: Hashable) -> Hashable:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def conflict(self, a: Hashable, b: Hashable) -> str | None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        ia, ib = self.ids[ra], self.ids[rb]
        if ia is not None and ib is not None and ia != ib:
            return "two_valid_ids"
        ba, bb = self.births[ra], self.births[rb]
        if ba is not None and bb is not None and ba != bb:
            return "two_birth_dates"
        return None

    def union(self, a: Hashable, b: Hashable) -> str | None:
        """Merge the clusters of ``a`` and ``b``; return the guard's reason when it refuses, else None."""
        reason = self.conflict(a, b)
        if reason is not None:
            return reason
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        # the smaller representative stays root: the result does not depend on edge order among equals
        keep, drop = (ra, rb) if str(ra) <= str(rb) else (rb, ra)
        self.parent[drop] = keep
        self.ids[keep] = self.ids[keep] if self.ids[keep] is not None else self.ids[drop]
        self.births[keep] = self.births[keep] if self.births[keep] is not None else self.births[drop]
        return None

    def merge_all(self, edges: Iterable[tuple[Hashable, Hashable]]) -> list[tuple[Hashable, Hashable, str]]:
        """Merge edges in the order given; return the refused ones with their reasons."""
        refused = []
        for a, b in edges:
            reason = self.union(a, b)
            if reason is not None:
                refused.append((a, b, reason))
        return refused
