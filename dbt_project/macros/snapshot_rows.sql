{#- Full-snapshot feeds (police register, grid register: grid units, address
    points, boundaries) resend every row each time, so "the current row" is
    a choice of snapshot, not a latest-wins over moves (that is
    `latest_wins`). One macro keeps the rule in one place: within a snapshot
    date a key listed twice (a second file for the same date, or a repeated
    row) resolves to the greater file_md5, then the later record_no, as every
    model that reads these feeds has always done.

    keep='latest_snapshot': the rows of the latest snapshot only (a key absent
        from it has left the register).
    keep='latest_listing':  each key's row from the latest snapshot that lists
        it (a retired grid dropped from later snapshots keeps its last row).
    keep='each_snapshot':   each key's row in every snapshot (history).

    `rows_cte` must have data_date, file_md5 and record_no. Rows with a null
    key are dropped. Adds is_in_latest_snapshot (the row's data_date is the
    greatest data_date in `rows_cte`) and version_rank (always 1 here).

    `latest`: a query giving that greatest date as `snapshot_date` more cheaply than `rows_cte` can, where
    `rows_cte` is costly to compute whole (the register's rows are rebuilt from its versions for every
    week: `select max(data_date)` over them joins every week's keys to the versions, where the latest
    date alone lets the join read one week's keys). -#}
{% macro snapshot_rows(rows_cte, key_column, keep='latest_snapshot', latest=none) -%}
    {%- set modes = ['latest_snapshot', 'latest_listing', 'each_snapshot'] -%}
    {%- if keep not in modes -%}
        {{ exceptions.raise_compiler_error(
            "snapshot_rows: keep=" ~ (keep | string | tojson) ~ " should be one of " ~ (modes | join(', '))
        ) }}
    {%- endif -%}
    select * from (
        select
            rows_.*,
            rows_.data_date = latest_.snapshot_date as is_in_latest_snapshot,
            row_number() over (
                partition by rows_.{{ key_column }}{{ ', rows_.data_date' if keep == 'each_snapshot' }}
                order by {{ 'rows_.data_date desc, ' if keep == 'latest_listing' }}rows_.file_md5 desc, rows_.record_no desc
            ) as version_rank
        from {{ rows_cte }} as rows_
        cross join ({{ latest or 'select max(data_date) as snapshot_date from ' ~ rows_cte }}) as latest_
        where rows_.{{ key_column }} is not null
        {%- if keep == 'latest_snapshot' %}
            and rows_.data_date = latest_.snapshot_date
        {%- endif %}
    ) as ranked
    where version_rank = 1
{%- endmacro %}
