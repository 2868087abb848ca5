{#- 一格一人: one row per grid and spell without an active 专职网格员, from the first roster month to the
    as-of date, over the grids active on each day. A spell still open on the as-of date has no end
    (vacant_to null) and counts its days up to and including the as-of date.
    A grid that came into force after the latest roster's month (a reorganisation's new grid) is on no roster
    yet: while the grid register names its 网格员 it is not judged until a roster lists it, as a roster that
    has not arrived is no evidence of a vacancy; a new grid the register leaves without a 网格员 is. -#}
with

assignments as (
    select * from {{ ref('int_grid_worker_assignments') }}
),

grids as (
    select grid_code, valid_from_date, valid_to_date, grid_worker_name_masked from {{ ref('dim_grid') }}
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

first_roster as (
    select
        min(roster_month) as first_month,
        -- the first day no delivered roster covers
        cast(max(roster_month) + interval 1 month as date) as first_unrostered_day
    from {{ ref('stg_grid_workers') }}
),

days as (
    select {{ zhili_date_series('first_roster.first_month', 'as_of.as_of_date') }} as day
    from first_roster
    cross join as_of
    where first_roster.first_month is not null
),

grid_days as (
    select grids.grid_code, days.day
    from grids
    inner join days
        on days.day >= grids.valid_from_date
        and (grids.valid_to_date is null or days.day < grids.valid_to_date)
    cross join first_roster
    where grids.valid_from_date < first_roster.first_unrostered_day
        or coalesce(grids.grid_worker_name_masked, '') = ''
),

covered as (
    select distinct grid_days.grid_code, grid_days.day
    from grid_days
    inner join assignments
        on grid_days.grid_code = assignments.grid_code
        and grid_days.day >= assignments.served_from
        and (assignments.served_to is null or grid_days.day < assignments.served_to)
),

vacant_days as (
    select
        grid_days.grid_code,
        grid_days.day,
        grid_days.day - cast(row_number() over (partition by grid_days.grid_code order by grid_days.day) as integer)
            as island
    from grid_days
    left join covered
        on grid_days.grid_code = covered.grid_code
        and grid_days.day = covered.day
    where covered.day is null
),

spells as (
    select
        grid_code,
        min(day) as vacant_from,
        max(day) as last_vacant_day,
        count(*) as vacant_days
    from vacant_days
    group by grid_code, island
),

final as (
    select
        -- ids
        spells.grid_code || '|' || cast(spells.vacant_from as string) as vacancy_key,
        spells.grid_code,
        -- the spell
        spells.vacant_from,
        case when spells.last_vacant_day < as_of.as_of_date then cast(spells.last_vacant_day + 1 as date) end
            as vacant_to,
        cast(spells.vacant_days as integer) as vacant_days,
        spells.last_vacant_day >= as_of.as_of_date as is_open,
        as_of.as_of_date
    from spells
    cross join as_of
)

select * from final
