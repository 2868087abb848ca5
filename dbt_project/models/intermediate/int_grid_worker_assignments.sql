{#- One row per 专职网格员 serving interval in a grid, read from the monthly rosters: a row shows the grid at
    the month's end; a 调岗日期 in the month starts that grid on that day and ends the grid of the worker's
    previous roster row; a 离职日期 ends the interval. served_to is exclusive; a worker on the latest roster
    without a 离职日期 is taken to serve on (null) until a roster says otherwise. -#}
with

roster as (
    select * from {{ ref('stg_grid_workers') }}
    where post = '专职网格员'
),

months as (
    select
        roster.*,
        cast(roster_month + interval 1 month as date) as next_month,
        lag(grid_code) over (partition by worker_id order by roster_month) as previous_grid_code,
        roster_month = max(roster_month) over () as is_latest_roster
    from roster
),

this_grid as (
    select
        worker_id,
        grid_code,
        case
            when moved_date >= roster_month and moved_date < next_month then moved_date
            else greatest(roster_month, coalesce(hired_date, roster_month))
        end as served_from,
        case
            when left_date is not null and (left_date < next_month or is_latest_roster) then left_date
            when is_latest_roster then null
            else next_month
        end as served_to
    from months
),

previous_grid as (
    select
        worker_id,
        previous_grid_code as grid_code,
        roster_month as served_from,
        moved_date as served_to
    from months
    where moved_date >= roster_month and moved_date < next_month
        and previous_grid_code is not null and previous_grid_code <> grid_code
),

final as (
    select * from this_grid where served_to is null or served_to > served_from
    union all
    select * from previous_grid where served_to > served_from
)

select * from final
