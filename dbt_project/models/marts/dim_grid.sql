with

grids as (
    select * from {{ ref('stg_grid_units') }}
),

rolled_forward as (
    select * from {{ ref('int_grids_rolled_forward') }}
),

residents as (
    select * from {{ ref('int_residents_profiled') }}
),

resident_counts as (
    select
        current_grid_code as grid_code,
        cast(count(*) as {{ dbt.type_bigint() }}) as resident_count,
        cast(sum(case when is_in_police_register then 1 else 0 end) as {{ dbt.type_bigint() }}) as registered_resident_count
    from residents
    where current_grid_code is not null
    group by current_grid_code
),

final as (
    select
        -- ids
        grids.grid_code,
        grids.grid_name,
        grids.grid_type,
        -- hierarchy: county > street > community > grid
        grids.county_code,
        grids.county_name,
        grids.street_code,
        grids.street_name,
        grids.community_code,
        grids.community_name,
        -- validity [valid_from_date, valid_to_date)
        grids.valid_from_date,
        grids.valid_to_date,
        rolled_forward.is_active,
        grids.merged_into,
        rolled_forward.current_grid_code,
        -- registered by the centre vs counted by the warehouse
        grids.grid_worker_name_masked,
        grids.households as households_registered,
        grids.resident_population as population_registered,
        coalesce(resident_counts.registered_resident_count, 0) as police_register_resident_count,
        coalesce(resident_counts.resident_count, 0) as warehouse_resident_count,
        -- provenance
        grids.snapshot_date,
        grids.is_in_latest_snapshot
    from grids
    left join rolled_forward
        on grids.grid_code = rolled_forward.grid_code
    left join resident_counts
        on grids.grid_code = resident_counts.grid_code
)

select * from final
