with

source as (
    select * from {{ source('normalised', 'address_points') }}
),

current_snapshot as (
    {{ snapshot_rows('source', 'address_code') }}
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
        record_no
    from current_snapshot
)

select * from final
