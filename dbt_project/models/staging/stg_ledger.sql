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
