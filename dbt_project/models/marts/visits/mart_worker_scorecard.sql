{#- Per worker (工号) and month: what the visit log says they did, beside their roster row for the month
    (post, grid at the month's end, last year's grade). Supports the yearly assessment (优秀 / 合格 / 基本合格
    / 不合格): visits due by the care cadence against those done (mart_visit_cadence: a period is due in the
    month of its last day, owed by the worker serving the person's grid that day, so a worker who moves grid
    mid-month is counted for each grid on the days they served it), desk-typed visits, the events raised from
    their visits and the share of those closed within the grid (处置层级 网格). -#}
with

visits as (
    select * from {{ ref('fct_visit') }}
    where worker_id is not null
),

roster as (
    select * from {{ ref('dim_grid_worker') }}
),

-- every 专职网格员 serving the person's grid on the period's last day owes it (one, unless a roster has two)
cadence as (
    select
        assignments.worker_id,
        cast(date_trunc('month', periods.due_date) as date) as month_date,
        count(*) as cadence_visits_due,
        count(case when periods.cadence_status = 'met' then 1 end) as cadence_visits_done
    from {{ ref('mart_visit_cadence') }} as periods
    inner join {{ ref('int_grid_worker_assignments') }} as assignments
        on periods.grid_code = assignments.grid_code
        and assignments.served_from <= periods.due_date
        and (assignments.served_to is null or assignments.served_to > periods.due_date)
    where periods.cadence_status <> 'open'
    group by 1, 2
),

-- the events raised from a worker's visits and where they were closed (grid_events' 处置层级)
raised as (
    select
        visits.worker_id,
        cast(date_trunc('month', visits.visited_date) as date) as month_date,
        count(distinct incidents.incident_key) as events_found,
        count(distinct case when incidents.is_closed and incidents.handling_level = '网格'
            then incidents.incident_key end) as events_closed_in_grid
    from visits
    inner join {{ ref('fct_incident') }} as incidents
        on incidents.source_feed = 'grid_events'
        and incidents.source_id = visits.event_id
    where visits.is_countable
    group by 1, 2
),

monthly as (
    select
        worker_id,
        cast(date_trunc('month', visited_date) as date) as month_date,
        count(*) as visits_submitted,
        count(case when is_countable then 1 end) as visits_countable,
        count(case when is_countable and is_home_visit then 1 end) as home_visits,
        count(case when is_desk_typed then 1 end) as desk_typed_visits,
        count(case when is_repeat_submission then 1 end) as repeat_submissions,
        count(case when is_person_gone then 1 end) as visits_to_departed,
        count(case when is_countable and has_problem then 1 end) as problems_found,
        count(case when is_countable and event_id is not null then 1 end) as events_raised,
        count(case when is_countable and is_problem_without_event then 1 end) as problems_without_event,
        count(distinct case when is_countable then person_key end) as persons_visited
    from visits
    group by 1, 2
),

worker_months as (
    select worker_id, month_date from monthly
    union
    select worker_id, month_date from cadence
),

final as (
    select
        -- ids
        worker_months.worker_id || '|' || cast(worker_months.month_date as string) as scorecard_key,
        worker_months.worker_id,
        worker_months.month_date,
        -- the roster's row for the month (null when the month's roster has not arrived)
        roster.post,
        roster.grid_code,
        roster.last_year_grade,
        -- the visit log
        coalesce(monthly.visits_submitted, 0) as visits_submitted,
        coalesce(monthly.visits_countable, 0) as visits_countable,
        coalesce(monthly.home_visits, 0) as home_visits,
        case when monthly.visits_countable > 0
            then cast(monthly.home_visits as double) / monthly.visits_countable end as home_visit_share,
        coalesce(monthly.desk_typed_visits, 0) as desk_typed_visits,
        coalesce(monthly.repeat_submissions, 0) as repeat_submissions,
        coalesce(monthly.visits_to_departed, 0) as visits_to_departed,
        coalesce(monthly.problems_found, 0) as problems_found,
        coalesce(monthly.events_raised, 0) as events_raised,
        coalesce(monthly.problems_without_event, 0) as problems_without_event,
        coalesce(monthly.persons_visited, 0) as persons_visited,
        -- the care cadence: periods due in the month the worker owed, and those met
        coalesce(cadence.cadence_visits_due, 0) as cadence_visits_due,
        coalesce(cadence.cadence_visits_done, 0) as cadence_visits_done,
        case when cadence.cadence_visits_due > 0
            then cast(cadence.cadence_visits_done as double) / cadence.cadence_visits_due end as cadence_met_share,
        -- events raised from the month's visits, and closed within the grid
        coalesce(raised.events_found, 0) as events_found,
        coalesce(raised.events_closed_in_grid, 0) as events_closed_in_grid,
        case when raised.events_found > 0
            then cast(raised.events_closed_in_grid as double) / raised.events_found end as closed_in_grid_share
    from worker_months
    left join monthly
        on worker_months.worker_id = monthly.worker_id
        and worker_months.month_date = monthly.month_date
    left join cadence
        on worker_months.worker_id = cadence.worker_id
        and worker_months.month_date = cadence.month_date
    left join raised
        on worker_months.worker_id = raised.worker_id
        and worker_months.month_date = raised.month_date
    left join roster
        on worker_months.worker_id = roster.worker_id
        and worker_months.month_date = roster.roster_month
)

select * from final
