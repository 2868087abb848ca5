{#- Every weekly register snapshot's household columns (户号 as a keyed household_key, 与户主关系): the
    membership history dim_household is built from. stg_police_population holds the latest snapshot only;
    a household's members over time need every week. Snapshots from before the register exported the
    columns have null household_key and are left out here (their membership is unknown, not empty). -#}
with

source as (
    select * from {{ ref('stg_police_population_listings') }}
),

final as (
    select
        -- ids
        household_key,
        source_person_id,
        person_key,
        -- household
        household_no_masked,
        household_no_status,
        relation_to_head,
        is_relation_known,
        -- register status that week
        person_status,
        coalesce(person_status, '在册') = '在册' as is_registered,
        status_changed_date,
        -- provenance
        data_date as snapshot_date,
        {{ record_locator() }} as record_locator,
        -- the person record of the row's version: how the row finds its person (int_persons_resolved)
        version_record_locator
    from source
    where household_key is not null
        and source_person_id is not null
)

select * from final
