with

source as (
    select * from {{ source('normalised', 'grid_boundaries') }}
),

current_snapshot as (
    {{ snapshot_rows('source', 'grid_code') }}
),

final as (
    select
        grid_code,
        geometry as geometry_geojson,
        data_date as snapshot_date,
        file_md5,
        record_no
    from current_snapshot
)

select * from final
