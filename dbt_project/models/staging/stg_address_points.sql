with

source as (
    select * from {{ source('normalised', 'address_points') }}
),

latest_snapshot as (
    select max(data_date) as snapshot_date from source
),

ranked as (
    select
        source.*,
        row_number() over (partition by address_code order by file_md5 desc, record_no desc) as version_rank,
    from source
    inner join latest_snapshot
        on source.data_date = latest_snapshot.snapshot_date
    where source.address_code is not null
),

final as (
    select
        -- ids
        address_code,
        grid_code,
        -- address
        standard_address,
        address_canonical,
        road,
        house_number,
        building,
        -- coordinates (WGS-84)
        lon,
        lat,
        -- provenance
        data_date as snapshot_date,
        file_md5,
        record_no,
    from ranked
    where version_rank = 1
)

select * from final
