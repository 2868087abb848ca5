{#- One row per grid_visits alert and evidence record: the visit behind a visit_desk_typed alert; for a
    grid_unstaffed alert, the worker whose service in the grid ended on the day the vacancy began (none when
    the grid never had one in the rosters). -#}
with

alerts as (
    select * from {{ ref('mart_alerts') }}
    where rule in ('visit_desk_typed', 'grid_unstaffed')
),

visits as (
    select * from {{ ref('fct_visit') }}
),

staffing as (
    select * from {{ ref('mart_grid_staffing') }}
),

assignments as (
    select * from {{ ref('int_grid_worker_assignments') }}
),

desk as (
    select
        alerts.alert_key,
        alerts.rule,
        'visit' as evidence_kind,
        visits.visit_id as evidence_key,
        visits.visited_at as evidence_at,
        visits.distance_m as metric_value
    from alerts
    inner join visits
        on alerts.alert_key = 'visit_desk_typed|' || visits.visit_id
),

unstaffed as (
    select
        alerts.alert_key,
        alerts.rule,
        'worker' as evidence_kind,
        assignments.worker_id as evidence_key,
        {{ start_of_day_at('assignments.served_to') }} as evidence_at,
        staffing.vacant_days as metric_value
    from alerts
    inner join staffing
        on alerts.alert_key = 'grid_unstaffed|' || staffing.vacancy_key
    inner join assignments
        on staffing.grid_code = assignments.grid_code
        and assignments.served_to = staffing.vacant_from
),

final as (
    select
        {{ dbt.concat(['alert_key', "'#'", 'evidence_key']) }} as alert_evidence_key,
        alert_key,
        rule,
        evidence_kind,
        evidence_key,
        evidence_at,
        cast(metric_value as integer) as metric_value
    from desk
    union all
    select
        {{ dbt.concat(['alert_key', "'#'", 'evidence_key']) }},
        alert_key,
        rule,
        evidence_kind,
        evidence_key,
        evidence_at,
        cast(metric_value as integer)
    from unstaffed
)

select * from final
