{#- One row per personal record with the person it belongs to.

    When the linkage step (ingestion.linkage.run_linkage) has written
    restricted/person_links/links.parquet, its person_key and link_method are
    used: valid IDs ('id_number'), repaired check characters ('id_repaired'),
    the same register entry or foreign document ('register_entry',
    'doc_number'), Splink links ('probabilistic', with match_probability and
    the blocking rule) and records that are their own person ('singleton').
    Records ingested after the last linkage run, and every record when it has
    never run, fall back to the valid-ID link ('id_number') or 'unlinked'.
    Identifiers leave here only as masked display forms.

    Incremental by record (persons_incremental.sql): a run recomputes the
    records of new person-record files and those whose link changed since
    the last build (link_run, stamped by linkage), not the whole history. -#}
{{ config(**persons_incremental_by_record()) }}
-- depends_on: {{ source('person_links', 'links') }}
{%- set links = persons_links_state() -%}
{%- set has_links = links.exists %}
with

records as (
    select * from {{ ref('restricted_person_records') }}
    where {{ persons_records_to_build(links) }}
),

{% if has_links -%}
linkage as (
    select
        record_locator,
        person_key,
        link_method,
        match_probability,
        rule as link_rule,
        {{ 'link_run' if links.stamped else 'cast(null as bigint) as link_run' }}
    from {{ source('person_links', 'links') }}
),
{%- endif %}

final as (
    select
        -- ids
        records.record_locator,
        -- one join: a record takes its linkage row when linkage saw it, else its own valid-ID key (a record
        -- ingested after the last linkage run), else it is unlinked
        {%- if has_links %}
        case when linkage.record_locator is not null then linkage.person_key else records.person_key end as person_key,
        case
            when linkage.record_locator is not null then coalesce(linkage.link_method, 'unlinked')
            when records.person_key is not null then 'id_number'
            else 'unlinked'
        end as link_method,
        case when linkage.record_locator is not null then linkage.person_key else records.person_key end is not null as is_linked,
        linkage.match_probability,
        case
            when linkage.record_locator is not null then linkage.link_rule
            when records.person_key is not null then 'valid_id'
        end as link_rule,
        {%- else %}
        records.person_key,
        case when records.person_key is not null then 'id_number' else 'unlinked' end as link_method,
        records.person_key is not null as is_linked,
        cast(null as double) as match_probability,
        case when records.person_key is not null then 'valid_id' end as link_rule,
        {%- endif %}
        -- the linkage run that last changed the record's link (null: linkage has not seen the record)
        {{ 'linkage.link_run' if has_links else 'cast(null as bigint)' }} as link_run,
        records.role,
        records.source_key,
        -- display forms (masked, as ingestion.fields masks them)
        records.id_status,
        {{ mask_id('records.id_number') }} as id_masked,
        {{ mask_name('records.name') }} as name_masked,
        {{ mask_phone('records.phone') }} as phone_masked,
        records.sex,
        records.birth_date,
        -- placement
        {{ placement_columns('records', exclude=['address_code']) }}
        -- when
        coalesce(records.record_at, {{ start_of_day_at('records.data_date') }}) as record_at,
        records.data_date,
        -- locator
        {{ locator_columns('records', last_comma=false) }}
    from records
    {%- if has_links %}
    left join linkage
        on records.record_locator = linkage.record_locator
    {%- endif %}
)

select * from final
