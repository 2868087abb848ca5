{#- Keep the current version of each key in a daily increment that resends
    records as they move (see the `latest_wins` docs block): the latest status
    time, then the later delivery. `rows_cte` is a CTE with the locator and
    data_date; `files_cte` one row per file_md5 with delivered_date and
    processed_at. Adds version_count (how many versions of the key arrived)
    and keeps only version_rank = 1. -#}
{% macro latest_wins(rows_cte, files_cte, key_column, status_at_column) -%}
    select * from (
        select
            rows_.*,
            files_.delivered_date,
            row_number() over (
                partition by rows_.{{ key_column }}
                order by
                    rows_.{{ status_at_column }} desc nulls last,
                    files_.delivered_date desc nulls last,
                    rows_.data_date desc nulls last,
                    files_.processed_at desc nulls last,
                    rows_.file_md5 desc,
                    rows_.record_no desc
            ) as version_rank,
            count(*) over (partition by rows_.{{ key_column }}) as version_count
        from {{ rows_cte }} as rows_
        left join {{ files_cte }} as files_
            on rows_.file_md5 = files_.file_md5
    ) as ranked
    where version_rank = 1
{%- endmacro %}

{#- One row per loaded file: when it was delivered and processed. -#}
{% macro files_delivered() -%}
    select
        file_md5,
        max(delivered_date) as delivered_date,
        max(processed_at) as processed_at
    from {{ ref('stg_ledger') }}
    where status in ('loaded', 'held')
    group by file_md5
{%- endmacro %}
