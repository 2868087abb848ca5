{#- One row per personal record with the person it belongs to and how it was
    linked, no identifiers. Incremental by record, as int_persons_resolved
    (persons_incremental.sql): a run rewrites the records of new files and
    those whose link changed since the last build. -#}
{{ config(**persons_incremental_by_record()) }}
{%- set links = persons_links_state() %}
with

records as (
    select * from {{ ref('int_persons_resolved') }}
    where {{ persons_records_to_build(links) }}
),

final as (
    select
        -- ids
        record_locator,
        person_key,
        link_method,
        is_linked,
        link_run,
        -- the record
        role,
        source_key,
        id_status,
        record_at,
        data_date,
        -- locator
        {{ locator_columns(last_comma=false) }}
    from records
)

select * from final
