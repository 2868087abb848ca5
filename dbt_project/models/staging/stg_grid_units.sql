{#- The register is a full snapshot that also lists retired grids; history is
    kept: each grid's row comes from the latest snapshot that lists it, so a
    grid dropped from a later snapshot still owns its past events. -#}
with

source as (
    select * from {{ source('normalised', 'grid_units') }}
),

latest_snapshot as (
    select max(data_date) as snapshot_date from source
),

ranked as (
    select
        source.*,
        row_number() over (
            partition by grid_code
            order by data_date desc, file_md5 desc, record_no desc
        ) as version_rank,
    from source
    where grid_code is not null
),

final as (
    select
        -- ids
        ranked.grid_code,
        ranked.grid_name,
        ranked.grid_type,
        -- hierarchy
        ranked.community_code,
        ranked.community_name,
        ranked.street_code,
        ranked.street_name,
        ranked.county_code,
        ranked.county_name,
        -- staff (masked)
        ranked.grid_worker_name_masked,
        ranked.grid_worker_phone_masked,
        -- registered counts
        ranked.households,
        ranked.resident_population,
        -- validity [valid_from, valid_to)
        ranked.valid_from as valid_from_date,
        ranked.valid_to as valid_to_date,
        ranked.merged_into,
        -- provenance
        ranked.data_date as snapshot_date,
        ranked.data_date = latest_snapshot.snapshot_date as is_in_latest_snapshot,
        ranked.feed,
        ranked.file,
        ranked.file_md5,
        ranked.record_no,
    from ranked
    cross join latest_snapshot
    where ranked.version_rank = 1
)

select * from final
