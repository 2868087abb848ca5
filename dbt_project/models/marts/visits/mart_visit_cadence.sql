{#- 探访关爱 cadence, met or missed, from the visit log: one row per care-register person (mart_care_visits'
    tiers) and cadence period of their tier, exactly as DOMAIN.md says: high risk weekly (ISO weeks, Monday to
    Sunday), key monthly (calendar months), everyone else on the care register quarterly (calendar quarters).

    A period is judged only when the visit log (fct_visit) covers all of it: it starts on or after the log's
    first day; and only when the person was on the register when it began (登记日期 on or before its first day:
    someone registered mid-period is owed the periods after). It is met when the log has a countable visit to the person in it (fct_visit.is_countable: no
    repeat submission, desk-typed visit or visit after the person left); missed when it has ended by the as-of
    date without one; open while it is still running without one. Who owed the visit: the 专职网格员 serving
    the person's grid on the period's last day (int_grid_worker_assignments), so a worker who moves grid
    mid-month owes the old grid's periods that end before the move and the new grid's after it. -#}
with

care as (
    select * from {{ ref('mart_care_visits') }}
),

visits as (
    select person_key, visited_date from {{ ref('fct_visit') }}
    where is_countable and person_key is not null
),

assignments as (
    select * from {{ ref('int_grid_worker_assignments') }}
),

-- when the register first has the person (登记日期): a period that began before it was not owed
registered as (
    select person_key, min(registered_date) as registered_date
    from {{ ref('stg_police_population') }}
    where person_key is not null and registered_date is not null
    group by person_key
),

span as (
    select
        (select min(visited_date) from {{ ref('fct_visit') }}) as log_from,
        {{ as_of_date() }} as as_of_date
),

days as (
    select {{ zhili_date_series('span.log_from', 'span.as_of_date') }} as day
    from span
),

tiers as (
    select 'high_risk' as care_tier, 'week' as period_unit
    union all select 'key', 'month'
    union all select 'other', 'quarter'
),

period_starts as (
    select distinct
        tiers.care_tier,
        tiers.period_unit,
        cast(date_trunc(tiers.period_unit, days.day) as date) as period_start
    from days
    cross join tiers
),

periods as (
    select
        period_starts.*,
        cast(case period_unit
            when 'week' then period_start + interval 7 day
            when 'month' then period_start + interval 1 month
            else period_start + interval 3 month
        end as date) as period_end
    from period_starts
    cross join span
    -- a period the log does not cover from its first day cannot be judged
    where period_starts.period_start >= span.log_from
),

person_periods as (
    select
        care.person_key,
        care.grid_code,
        care.care_tier,
        periods.period_unit,
        periods.period_start,
        periods.period_end,
        cast(periods.period_end - interval 1 day as date) as due_date
    from care
    inner join periods
        on care.care_tier = periods.care_tier
    left join registered
        on care.person_key = registered.person_key
    where registered.registered_date is null or periods.period_start >= registered.registered_date
),

visited as (
    select
        person_periods.person_key,
        person_periods.period_start,
        count(visits.visited_date) as visits_done,
        min(visits.visited_date) as first_visit_date
    from person_periods
    inner join visits
        on person_periods.person_key = visits.person_key
        and visits.visited_date >= person_periods.period_start
        and visits.visited_date < person_periods.period_end
    group by person_periods.person_key, person_periods.period_start
),

owed as (
    select
        person_periods.person_key,
        person_periods.period_start,
        -- 一格一人; where a roster has two in one grid that day, the one who took the grid last (the greater
        -- worker_id of two who took it the same day, not whichever row came last)
        {{ zhili_arg_max_tuple('assignments.worker_id', ['assignments.served_from', 'assignments.worker_id']) }} as worker_id,
        count(distinct assignments.worker_id) as workers_serving
    from person_periods
    inner join assignments
        on person_periods.grid_code = assignments.grid_code
        and assignments.served_from <= person_periods.due_date
        and (assignments.served_to is null or assignments.served_to > person_periods.due_date)
    group by person_periods.person_key, person_periods.period_start
),

final as (
    select
        -- ids
        {{ dbt.concat(['person_periods.person_key', "'|'", 'cast(person_periods.period_start as ' ~ dbt.type_string() ~ ')']) }}
            as cadence_key,
        person_periods.person_key,
        person_periods.grid_code,
        owed.worker_id,
        coalesce(owed.workers_serving, 0) as workers_serving,
        -- the cadence
        person_periods.care_tier,
        person_periods.period_unit,
        person_periods.period_start,
        person_periods.due_date,
        -- the log
        coalesce(visited.visits_done, 0) as visits_done,
        visited.first_visit_date,
        case
            when visited.visits_done > 0 then 'met'
            when person_periods.due_date <= span.as_of_date then 'missed'
            else 'open'
        end as cadence_status,
        span.as_of_date
    from person_periods
    cross join span
    left join visited
        on person_periods.person_key = visited.person_key
        and person_periods.period_start = visited.period_start
    left join owed
        on person_periods.person_key = owed.person_key
        and person_periods.period_start = owed.period_start
)

select * from final
