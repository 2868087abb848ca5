"""Clustering with a guard against chaining.

Nodes are merged along accepted links, strongest first (Kruskal order). A
merge is refused when the two clusters each hold a different valid ID, or
each hold a different known birth date: a weak record cannot then chain two
different people together, and the refused link goes to review instead.

Nodes are the integers ``0 … n-1``, numbered in the order of their names, and
what the guard compares is held as integer codes in flat arrays: at a million
residents there are five million nodes, and a union-find of Python dicts keyed
by the nodes' names took four gigabytes.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["NONE", "Clusters"]

#: no valid ID, or no known birth date, in a node's cluster (a birth date's day number can be negative)
NONE = -(2**63)

#: a refused merge's reason, by the code ``union`` returns
REASONS = {1: "two_valid_ids", 2: "two_birth_dates"}


class Clusters:
    """A union-find over nodes ``0 … n-1`` with the guard.

    ``ids[i]``: node ``i``'s valid ID as an integer code (equal codes are equal IDs), or ``NONE``;
    ``births[i]``: its birth date as an integer (days), or ``NONE``. Both seed the cluster's guard.
    """

    def __init__(self, ids: Sequence[int], births: Sequence[int]) -> None:
        if len(ids) != len(births):
            raise ValueError("one ID code and one birth code per node")
        self.parent = array("q", range(len(ids)))
        self.ids = array("q", np.asarray(ids, dtype=np.int64).tobytes())
        self.births = array("q", np.asarray(births, dtype=np.int64).tobytes())

    def __len__(self) -> int:
        return len(self.parent)

    def find(self, node: int) -> int:
        parent = self.parent
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def conflict(self, a: int, b: int) -> int:
        """0 when the clusters of ``a`` and ``b`` may merge, else the refusal's code (``REASONS``)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return 0
        ia, ib = self.ids[ra], self.ids[rb]
        if ia != NONE and ib != NONE and ia != ib:
            return 1
        ba, bb = self.births[ra], self.births[rb]
        if ba != NONE and bb != NONE and ba != bb:
            return 2
        return 0

    def union(self, a: int, b: int) -> int:
        """Merge the clusters of ``a`` and ``b``; 0 when merged (or one already), else the guard's code."""
        reason = self.conflict(a, b)
        if reason:
            return reason
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return 0
        # the smaller node (the name first in order) stays root: the result does not depend on edge order
        keep, drop = (ra, rb) if ra <= rb else (rb, ra)
        self.parent[drop] = keep
        if self.ids[keep] == NONE:
            self.ids[keep] = self.ids[drop]
        if self.births[keep] == NONE:
            self.births[keep] = self.births[drop]
        return 0

    def merge_all(self, edges: Iterable[tuple[int, int]]) -> list[tuple[int, int, str]]:
        """Merge edges in the order given; return the refused ones with their reasons."""
        refused = []
        for a, b in edges:
            reason = self.union(a, b)
            if reason:
                refused.append((a, b, REASONS[reason]))
        return refused

    def merge_codes(self, left: Iterable[int], right: Iterable[int]) -> array:
        """Merge ``left[k]``–``right[k]`` in order; per edge 0 (merged) or the guard's code (``REASONS``)."""
        union = self.union
        return array("b", (union(a, b) for a, b in zip(left, right)))

    def roots(self) -> np.ndarray:
        """Every node's root, after the merges so far."""
        find = self.find
        return np.fromiter((find(i) for i in range(len(self.parent))), dtype=np.int64, count=len(self.parent))

    def id_codes(self) -> np.ndarray:
        """Every node's ID code (a root's is its cluster's), a copy."""
        return np.frombuffer(self.ids, dtype=np.int64).copy()
