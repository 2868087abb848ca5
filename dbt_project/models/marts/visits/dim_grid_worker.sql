{#- One row per worker (工号) and monthly roster: the roster's versions of a worker (post, grid at the end of
    the month, step, dates, last year's grade). Staff: masked display forms only. -#}
with

roster as (
    select * from {{ ref('stg_grid_workers') }}
),

final as (
    select
        -- ids
        worker_id || '|' || cast(roster_month as {{ dbt.type_string() }}) as worker_version_key,
        worker_id,
        roster_month,
        -- the worker (masked)
        worker_name_masked,
        worker_phone_masked,
        post,
        grid_code,
        micro_grid,
        pay_step,
        last_year_grade,
        -- dates
        hired_date,
        left_date,
        moved_date,
        roster_month = max(roster_month) over () as is_latest_roster
    from roster
)

select * from final
