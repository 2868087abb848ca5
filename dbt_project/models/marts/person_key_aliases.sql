{#- One row per change of a published person key: when new evidence merged two
    persons, the absorbed key -> the surviving one ('merged'); when a person's
    records were split off, the old key -> the new person's key ('split').
    current_person_key follows later merges, so any key ever published
    resolves to the person its records belong to now. Written by the linkage
    step (ingestion.linkage.keys) to restricted/person_links/aliases.parquet:
    keys, dates and counts only. Empty until a key has changed. -#}
-- depends_on: {{ source('person_links', 'aliases') }}
{%- set has_aliases = zhili_source_exists('person_links', 'aliases') %}
with

{% if has_aliases -%}
aliases as (
    select * from {{ source('person_links', 'aliases') }}
),
{%- else -%}
aliases as (
    select
        cast(null as {{ dbt.type_string() }}) as old_person_key,
        cast(null as {{ dbt.type_string() }}) as new_person_key,
        cast(null as {{ dbt.type_string() }}) as current_person_key,
        cast(null as date) as changed_on,
        cast(null as {{ dbt.type_string() }}) as change,
        cast(null as bigint) as records,
        cast(null as {{ dbt.type_string() }}) as linkage_model
    where false
),
{%- endif %}

final as (
    select
        -- ids
        old_person_key || '~' || new_person_key || '~' || cast(changed_on as {{ dbt.type_string() }}) as alias_key,
        old_person_key,
        new_person_key,
        current_person_key,
        -- what changed
        change as change_kind,
        cast(records as bigint) as records_moved,
        linkage_model,
        -- dates
        changed_on as changed_date
    from aliases
)

select * from final
