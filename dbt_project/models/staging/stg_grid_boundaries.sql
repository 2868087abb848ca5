with

source as (
    select * from {{ source('normalised', 'grid_boundaries') }}
),

latest_snapshot as (
    select max(data_date) as snapshot_date from source
),

ranked as (
    select
        source.*,
        row_number() over (partition by grid_code order by file_md5 desc, record_no desc) as version_rank,
    from source
    inner join latest_snapshot
        on source.data_date = latest_snapshot.snapshot_date
    where source.grid_code is not null
),

final as (
    select
        grid_code,
        geometry as geometry_geojson,
        data_date as snapshot_date,
        file_md5,
        record_no,
    from ranked
    where version_rank = 1
)

select * from final
