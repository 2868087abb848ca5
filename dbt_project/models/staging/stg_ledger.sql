{#- One row per landed file per outcome, with the delivery date parsed from its folder.

    A table, not a view as the rest of staging: the ledger is one small Parquet file per landed file (about
    2,700 a year), and every latest-wins staging view reads it (files_delivered) on each of its reads, which
    cost a fresh open of every ledger file each time (0.6 s of a 0.9 s read of stg_police_incidents at 200k
    × 365). Stored once per build, it is read from the warehouse. Built first in the DAG (the views ref it),
    so a build's views see the ledger of that build. -#}
{{ config(materialized='table') }}
with

source as (
    select * from {{ source('pipeline', 'ledger') }}
),

renamed as (
    select
        -- ids
        feed,
        table_name,
        file,
        file_md5,
        duplicate_of,
        -- delivery
        folder,
        -- the landing folder is <feed>/<YYYY-MM-DD>: the delivery date decides ties
        -- between versions of one record (duckdb regexp: staging only)
        try_cast(regexp_extract(folder, '(\d{4}-\d{2}-\d{2})', 1) as date) as delivered_date,
        size_bytes,
        encoding,
        is_encoding_switched,
        -- outcome
        status,
        reason,
        message,
        flag_rows,
        records_read,
        rows_normalised,
        rows_quarantined,
        rows_skipped,
        skipped_by_kind,
        rows_person_flagged,
        -- a versioned register snapshot (ingestion.versions): unchanged + changed + new = rows_normalised
        rows_unchanged,
        rows_changed,
        rows_new,
        rows_gone,
        is_balanced,
        unknown_columns,
        missing_optional,
        id_valid_share,
        placed_share,
        seconds,
        processed_at
    from source
),

final as (
    select
        {{ dbt.concat([
            "coalesce(folder, '')", "'|'",
            "coalesce(file, '')", "'|'",
            "coalesce(file_md5, '')", "'|'",
            "coalesce(status, '')", "'|'",
            "coalesce(" ~ zhili_timestamp_text('processed_at') ~ ", '')",
        ]) }} as ledger_key,
        *
    from renamed
)

select * from final
