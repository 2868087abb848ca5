{#- One row per personal record with the person it belongs to. Today a person
    is the set of records sharing a valid normalised ID (person_key, link_method
    'id_number'). A later linkage step (names, phones, addresses) adds its links
    as another CTE unioned into `links` with its own link_method; nothing
    downstream changes. Identifiers leave here only as masked display forms. -#}
with

records as (
    select * from {{ ref('restricted_person_records') }}
),

links_by_id as (
    select
        record_locator,
        person_key,
        'id_number' as link_method,
    from records
    where person_key is not null
),

links as (
    select * from links_by_id
),

final as (
    select
        -- ids
        records.record_locator,
        links.person_key,
        coalesce(links.link_method, 'unlinked') as link_method,
        links.person_key is not null as is_linked,
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
