{#- Weekly full snapshot: the current register is the latest snapshot's rows.
    A person absent from it has left (int_residents_registered keeps that). -#}
with

source as (
    select * from {{ ref('stg_police_population_listings') }}
),

current_snapshot as (
    -- the latest snapshot's date from its key index (a key index names a snapshot the versions hold:
    -- ingestion.versions.record_snapshot), so only that week's keys are joined to the versions
    {{ snapshot_rows('source', 'source_person_id', latest=
        "select max(data_date) as snapshot_date from " ~ source('versions', 'police_population_keys')
        ~ " where source_person_id is not null") }}
),

final as (
    select
        -- ids
        source_person_id,
        person_key,
        -- person (masked display forms only)
        doc_type,
        id_status,
        id_masked,
        name_masked,
        name_status,
        phone_masked,
        phone_kind,
        sex,
        birth_date,
        ethnicity,
        population_type,
        -- register status
        person_status,
        -- listed in the snapshot is in the register (police_population.md); 人员状态 only says
        -- otherwise explicitly, so an empty one (a kept row) does not take the person out
        coalesce(person_status, '在册') = '在册' as is_registered,
        status_changed_date,
        registered_date,
        police_station,
        -- placement
        {{ placement_columns() }}
        -- provenance (a CSV: no sheet)
        data_date as snapshot_date,
        -- the person record of the row's version (stg_police_population_listings): its person is that record's
        version_record_locator,
        {{ locator_columns(exclude=['sheet', 'member_no'], last_comma=false) }}
    from current_snapshot
)

select * from final
