"""The district's grid index as the normalised zone holds it, and the address prefixes read off it.

Owns loading :class:`ingestion.placement.GridIndex` from every grid-register
snapshot loaded so far. The district's own province/city/county prefixes have
one derivation, the index's (``GridIndex.prefixes``, read off the standard
addresses by :mod:`ingestion.placement`): the normalisers strip the same
prefixes the index canonicalised its address points with.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ingestion.zones import Zones

__all__ = ["address_prefixes", "load_grid_index"]


def load_grid_index(zones: Zones):
    """The grid index over every grid-register snapshot loaded so far, or None before the first."""
    from ingestion.placement import GridIndex

    units = _read_zone(zones.normalised("grid_units"))
    points = _read_zone(zones.normalised("address_points"))
    if units.is_empty():
        return None
    # every snapshot's boundaries with its date: a redrawn boundary holds from its snapshot on
    bounds = _read_zone(zones.normalised("grid_boundaries"))
    if not bounds.is_empty():
        bounds = bounds.sort("data_date", "file_md5", "record_no").select("grid_code", "geometry", "data_date")
    return GridIndex.from_snapshots(units, points, None if bounds.is_empty() else bounds)


def address_prefixes(zones_or_index) -> tuple[str, ...]:
    """The district's own province, city and county names, as its standard addresses start (the index's)."""
    index = load_grid_index(zones_or_index) if isinstance(zones_or_index, Zones) else zones_or_index
    return tuple(index.prefixes) if index is not None else ()


def _read_zone(folder: Path) -> pl.DataFrame:
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed") if files else pl.DataFrame()
