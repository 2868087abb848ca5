"""What the Dagster UI shows for each metadata entry: words, not snake_case field names.

Asset and check bodies build their metadata under field names (tests and ``zhili run`` read those);
:func:`readable` renames them at the boundary, once, and shows shares (0..1) as percentages.
"""

from __future__ import annotations

__all__ = ["LABELS", "readable", "field_of"]

#: field name -> label in the UI; a ``*_share`` field's value is shown as a percentage
LABELS: dict[str, str] = {
    # raw/<feed>
    "files_staged": "files staged",
    "files_rejected": "files rejected",
    "files_unchanged": "files loaded before (unchanged)",
    "files_duplicate": "files with the same bytes as a loaded one",
    "records_read": "records read",
    "rows_skipped": "rows skipped (footers, empty rows)",
    "skipped_by_kind": "rows skipped, by kind",
    "rejected_files": "rejected files",
    "duplicate_files": "duplicate files",
    "encoding_switches": "files read in another encoding",
    "column_drift": "new or missing columns",
    "not_in_landing": "partitions no longer in the landing",
    "files": "files",
    # normalised/<feed>
    "files_normalised": "files normalised",
    "files_held": "files held by the quality gate",
    "rows_normalised": "rows normalised",
    "rows_quarantined": "rows quarantined",
    "ledger_balanced": "ledger balances (read = normalised + quarantined)",
    "id_valid_share": "valid ID number (share, %)",
    "grid_placed_share": "placed in a grid (share, %)",
    "quarantine_reasons": "rows quarantined, by reason",
    "not_normalised": "partitions not normalised",
    # gx_<feed>
    "files_validated": "files validated",
    "files_failed": "files failed (held)",
    "gx_seconds": "GX time (s)",
    "failed_expectations": "failed expectations",
    "unexpected_rows": "unexpected rows",
    "validation_report": "validation report",
    "validation_reports": "validation reports",
    "held_files": "held files",
    # serving/zhili
    "path": "serving snapshot",
    "snapshot": "snapshot file",
    "parquet_dir": "Parquet copies",
    "tables": "tables",
    "rows_by_table": "rows by table",
    "snapshots_kept": "snapshots kept",
    "tables_written": "tables written",
    "tables_reused": "tables reused",
    "written": "tables written (changed)",
    "reused": "tables reused (unchanged)",
    "parts_written": "parts written (tables published in parts)",
    "versions_removed": "table versions removed",
    "as_of_date": "as of",
    "linkage_model": "person linkage model (shipped priors or trained here)",
    "query": "query it",
}
_FIELDS = {label: name for name, label in LABELS.items()}


def readable(metadata: dict[str, object]) -> dict[str, object]:
    """``metadata`` under its UI labels; shares (``*_share``, 0..1) as percentages rounded to 0.01."""
    out: dict[str, object] = {}
    for name, value in metadata.items():
        if name.endswith("_share") and isinstance(value, (int, float)):
            value = round(value * 100, 2)
        out[LABELS.get(name, name)] = value
    return out


def field_of(label: str) -> str:
    """The field name behind a UI label (the label itself when it has none)."""
    return _FIELDS.get(label, label)
