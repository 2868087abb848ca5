{#- Weekly full snapshot: the current register is the latest snapshot's rows.
    A person absent from it has left (int_residents_registered keeps that). -#}
with

source as (
    select * from {{ source('normalised', 'police_population') }}
),

latest_snapshot as (
    select max(data_date) as snapshot_date from source
),

ranked as (
    select
        source.*,
        row_number() over (
            partition by source_person_id
            order by file_md5 desc, record_no desc
        ) as version_rank,
    from source
    inner join latest_snapshot
        on source.data_date = latest_snapshot.snapshot_date
    where source.source_person_id is not null
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
        address_code,
        grid_code,
        community_code,
        street_code,
        placement_method,
        -- provenance
        data_date as snapshot_date,
        feed,
        file,
        file_md5,
        record_no,
    from ranked
    where version_rank = 1
)

select * from final
