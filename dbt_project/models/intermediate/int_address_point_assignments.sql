{#- Each address point's assignments across grid-register snapshots, valid
    [valid_from_date, valid_to_date): a run of snapshots that keep a building
    in one grid is one row. A later run starts on the new grid's 启用日期 or
    the old grid's 停用日期 when either falls after the previous snapshot and
    no later than this one, else on this snapshot's date (a reassignment
    between two existing grids says no more); the first run has no start.
    The same rule ingestion.placement uses to place events by the grid of
    their day; stg_address_points stays the latest snapshot (current views). -#}
with

source as (
    select * from {{ source('normalised', 'address_points') }}
    where address_code is not null and grid_code is not null
),

per_snapshot as (
    {{ snapshot_rows('source', 'address_code', keep='each_snapshot') }}
),

sequenced as (
    select
        address_code,
        grid_code,
        data_date,
        lag(grid_code) over by_point as previous_grid_code,
        lag(data_date) over by_point as previous_snapshot_date
    from per_snapshot
    window by_point as (partition by address_code order by data_date)
),

run_starts as (
    select * from sequenced
    where previous_grid_code is null or previous_grid_code <> grid_code
),

grids as (
    select grid_code, valid_from_date, valid_to_date from {{ ref('stg_grid_units') }}
),

dated as (
    select
        run_starts.address_code,
        run_starts.grid_code,
        run_starts.previous_grid_code,
        run_starts.data_date as first_snapshot_date,
        case when run_starts.previous_grid_code is not null then coalesce(
            case when new_grid.valid_from_date > run_starts.previous_snapshot_date
                  and new_grid.valid_from_date <= run_starts.data_date then new_grid.valid_from_date end,
            case when old_grid.valid_to_date > run_starts.previous_snapshot_date
                  and old_grid.valid_to_date <= run_starts.data_date then old_grid.valid_to_date end,
            run_starts.data_date
        ) end as valid_from_date
    from run_starts
    left join grids as new_grid
        on run_starts.grid_code = new_grid.grid_code
    left join grids as old_grid
        on run_starts.previous_grid_code = old_grid.grid_code
),

final as (
    select
        -- ids
        address_code,
        grid_code,
        previous_grid_code,
        -- validity [valid_from_date, valid_to_date); null: open
        valid_from_date,
        lead(valid_from_date) over by_point as valid_to_date,
        lead(valid_from_date) over by_point is null as is_current,
        -- provenance
        first_snapshot_date
    from dated
    window by_point as (partition by address_code order by first_snapshot_date)
)

select * from final
