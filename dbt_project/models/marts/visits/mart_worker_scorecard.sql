{#- Per worker (工号) and month: what the visit log says they did, beside their roster row for the month
    (post, grid at the month's end, last year's grade). Supports the yearly assessment (优秀 / 合格 / 基本合格
    / 不合格); visits due by cadence are not here yet (see mart_care_visits per person). -#}
with

visits as (
    select * from {{ ref('fct_visit') }}
    where worker_id is not null
),

roster as (
    select * from {{ ref('dim_grid_worker') }}
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
        count(distinct case when is_countable then person_key end) as persons_visited,
    from visits
    group by 1, 2
),

final as (
    select
        -- ids
        monthly.worker_id || '|' || cast(monthly.month_date as varchar) as scorecard_key,
        monthly.worker_id,
        monthly.month_date,
        -- the roster's row for the month (null when the month's roster has not arrived)
        roster.post,
        roster.grid_code,
        roster.last_year_grade,
        -- the visit log
        monthly.visits_submitted,
        monthly.visits_countable,
        monthly.home_visits,
        case when monthly.visits_countable > 0
            then cast(monthly.home_visits as double) / monthly.visits_countable end as home_visit_share,
        monthly.desk_typed_visits,
        monthly.repeat_submissions,
        monthly.visits_to_departed,
        monthly.problems_found,
        monthly.events_raised,
        monthly.problems_without_event,
        monthly.persons_visited,
    from monthly
    left join roster
        on monthly.worker_id = roster.worker_id
        and monthly.month_date = roster.roster_month
)

select * from final
