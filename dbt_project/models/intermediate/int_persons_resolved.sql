{#- One row per personal record with the person it belongs to.

    When the linkage step (ingestion.linkage.run_linkage) has written
    restricted/person_links/links.parquet, its person_key and link_method are
    used: valid IDs ('id_number'), repaired check characters ('id_repaired'),
    the same register entry or foreign document ('register_entry',
    'doc_number'), Splink links ('probabilistic', with match_probability and
    the blocking rule) and records that are their own person ('singleton').
    Records ingested after the last linkage run, and every record when it has
    never run, fall back to the valid-ID link ('id_number') or 'unlinked'.
    Identifiers leave here only as masked display forms. -#}
{%- set links_path = env_var('ZHILI_HOME', '.zhili') ~ '/restricted/person_links/links.parquet' -%}
{%- set has_links = false -%}
{%- if execute -%}
    {#- glob() lists nothing (instead of failing) when linkage has not run yet -#}
    {%- set found = run_query("select count(*) from glob('" ~ links_path ~ "')") -%}
    {%- set has_links = found.columns[0].values()[0] > 0 -%}
{%- endif %}
with

records as (
    select * from {{ ref('restricted_person_records') }}
),

links_by_id as (
    select
        record_locator,
        person_key,
        'id_number' as link_method,
        cast(null as double) as match_probability,
        'valid_id' as link_rule,
    from records
    where person_key is not null
),

{% if has_links -%}
linkage as (
    select
        record_locator,
        person_key,
        link_method,
        match_probability,
        rule as link_rule,
    from read_parquet('{{ links_path }}')
),

links as (
    select * from linkage
    union all
    select links_by_id.*
    from links_by_id
    where not exists (
        select 1 from linkage where linkage.record_locator = links_by_id.record_locator
    )
),
{%- else -%}
links as (
    select * from links_by_id
),
{%- endif %}

final as (
    select
        -- ids
        records.record_locator,
        links.person_key,
        coalesce(links.link_method, 'unlinked') as link_method,
        links.person_key is not null as is_linked,
        links.match_probability,
        links.link_rule,
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
        records.grid_code,
        records.community_code,
        records.street_code,
        records.placement_method,
        -- when
        coalesce(records.record_at, {{ start_of_day_at('records.data_date') }}) as record_at,
        records.data_date,
        -- locator
        records.feed,
        records.file,
        records.file_md5,
        records.sheet,
        records.record_no,
        records.member_no,
    from records
    left join links
        on records.record_locator = links.record_locator
)

select * from final
