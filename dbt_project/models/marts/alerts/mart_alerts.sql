{#- One row per early warning. Rules, thresholds and severities: the
    mart_alerts docs block (docs/alerts/ has a page per rule). Evidence keys
    are incident_key values of fct_incident (for visit_overdue: none). -#}
{%- set repeat_window_days = var('repeat_petition_window_days', 90) -%}
{%- set repeat_min = var('repeat_petition_min_count', 3) -%}
{%- set collective_window_days = var('collective_window_days', 7) -%}
{%- set collective_min = var('collective_min_petitions', 5) -%}
{%- set escalation_window_days = var('escalation_window_days', 90) -%}
{%- set due_soon_days = var('due_soon_days', 5) -%}
{%- set hotline_repeat_days = var('hotline_repeat_window_days', 30) -%}
{%- set hotline_repeat_min = var('hotline_repeat_min_orders', 2) -%}
{#- a building holds dozens of households: two of them raising one matter in a month is ordinary, three is not -#}
{%- set hotline_repeat_address_min = var('hotline_repeat_address_min_orders', 3) -%}
{#- an address repeats a problem only through orders that report one: a 咨询, 建议 or 表扬 names where the caller
    lives, not a matter left unsolved there (docs/alerts/hotline_repeat.md) -#}
{%- set hotline_problem_types = var('hotline_repeat_address_request_types', ['投诉', '求助', '举报']) -%}
{#- the columns every rule's alerts list (in any order), and the rules' CTEs, unioned by these names -#}
{%- set alert_columns = [
    'alert_key', 'rule', 'severity', 'grid_code', 'community_code', 'street_code', 'person_key', 'category',
    'evidence_keys', 'evidence_count', 'metric_value', 'threshold', 'raised_at', 'last_evidence_at', 'is_open',
] -%}
{%- set rule_ctes = [
    'repeat_alerts', 'collective_alerts', 'spike_alerts', 'escalation_alerts', 'vulnerable_alerts', 'visit_alerts',
    'deadline_alerts', 'hotline_alerts', 'hotline_repeat_alerts', 'desk_visit_alerts', 'staffing_alerts',
    'hotline_escalation_alerts', 'hotline_topic_alerts', 'credit_alerts', 'service_alerts',
] -%}
with

-- only what had happened by the reporting date
incidents as (
    select * from {{ ref('fct_incident') }}
    where received_date <= {{ as_of_date() }}
),

people as (
    select * from {{ ref('bridge_incident_person') }}
    where person_key is not null
),

residents as (
    select * from {{ ref('int_residents_profiled') }}
),

grids as (
    select * from {{ ref('dim_grid') }}
),

spikes as (
    select * from {{ ref('mart_alert_spike_scores') }}
    where is_spike
),

care as (
    select * from {{ ref('mart_care_visits') }}
),

-- 探访关爱 cadence periods from the visit log (mart_visit_cadence), judged ones only
cadence as (
    select * from {{ ref('mart_visit_cadence') }}
    where cadence_status <> 'open'
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

petitions as (
    select * from incidents where source_feed = 'petitions'
),

-- repeat petitioner: the same person (by linkage) on >= 3 petitions within 90 days
person_petitions as (
    select distinct
        people.person_key,
        petitions.incident_key,
        petitions.received_at,
        petitions.is_closed,
        petitions.grid_code,
        petitions.community_code,
        petitions.street_code
    from petitions
    inner join people
        on petitions.incident_key = people.incident_key
),

person_petitions_counted as (
    select
        person_petitions.*,
        count(*) over (
            partition by person_key
            order by received_at
            range between interval {{ repeat_window_days }} days preceding and current row
        ) as trailing_petitions
    from person_petitions
),

repeat_triggers as (
    select
        person_key,
        min(received_at) as raised_at,
        max(trailing_petitions) as max_trailing
    from person_petitions_counted
    where trailing_petitions >= {{ repeat_min }}
    group by person_key
),

repeat_alerts as (
    select
        'repeat_petitioner|' || repeat_triggers.person_key as alert_key,
        'repeat_petitioner' as rule,
        case when repeat_triggers.max_trailing >= 5 then 'red' else 'orange' end as severity,
        max(person_petitions.grid_code) as grid_code,
        max(person_petitions.community_code) as community_code,
        max(person_petitions.street_code) as street_code,
        repeat_triggers.person_key,
        cast(null as string) as category,
        {{ zhili_string_agg('person_petitions.incident_key', "','", 'person_petitions.received_at, person_petitions.incident_key') }} as evidence_keys,
        count(*) as evidence_count,
        repeat_triggers.raised_at,
        max(person_petitions.received_at) as last_evidence_at,
        bool_or(not person_petitions.is_closed) as is_open,
        cast(repeat_triggers.max_trailing as bigint) as metric_value,
        {{ repeat_min }} as threshold
    from repeat_triggers
    inner join person_petitions
        on repeat_triggers.person_key = person_petitions.person_key
        and person_petitions.received_at >= repeat_triggers.raised_at - interval {{ repeat_window_days }} days
    group by repeat_triggers.person_key, repeat_triggers.raised_at, repeat_triggers.max_trailing
),

-- collective petition forming: >= 5 petitions, one category (wtlb), one community, 7 days
community_petitions as (
    select
        petitions.*,
        petitions.source_category || '/' || coalesce(petitions.source_subcategory, '') as petition_category,
        count(*) over (
            partition by petitions.community_code, petitions.source_category, petitions.source_subcategory
            order by petitions.received_at
            range between interval {{ collective_window_days }} days preceding and current row
        ) as trailing_petitions
    from petitions
    where petitions.community_code is not null
),

collective_triggers as (
    select
        community_code,
        petition_category,
        received_at,
        trailing_petitions,
        -- an episode continues while triggers follow each other within the window
        sum(case when previous_at is null or received_at > previous_at + interval {{ collective_window_days }} days then 1 else 0 end)
            over (partition by community_code, petition_category order by received_at) as episode_no
    from (
        select
            community_petitions.*,
            lag(received_at) over (partition by community_code, petition_category order by received_at) as previous_at
        from community_petitions
        where trailing_petitions >= {{ collective_min }}
    ) as triggered
),

collective_episodes as (
    select
        community_code,
        petition_category,
        episode_no,
        min(received_at) as raised_at,
        max(received_at) as last_trigger_at,
        max(trailing_petitions) as max_trailing
    from collective_triggers
    group by community_code, petition_category, episode_no
),

collective_alerts as (
    select
        'collective_forming|' || collective_episodes.community_code || '|' || collective_episodes.petition_category
            || '|' || {{ zhili_format_date('collective_episodes.raised_at', '%Y-%m-%d') }} as alert_key,
        'collective_forming' as rule,
        case when collective_episodes.max_trailing >= 10 then 'red' else 'orange' end as severity,
        cast(null as string) as grid_code,
        collective_episodes.community_code,
        left(collective_episodes.community_code, 9) as street_code,
        cast(null as string) as person_key,
        collective_episodes.petition_category as category,
        {{ zhili_string_agg('community_petitions.incident_key', "','", 'community_petitions.received_at, community_petitions.incident_key') }} as evidence_keys,
        count(*) as evidence_count,
        collective_episodes.raised_at,
        max(community_petitions.received_at) as last_evidence_at,
        bool_or(not community_petitions.is_closed) as is_open,
        cast(collective_episodes.max_trailing as bigint) as metric_value,
        {{ collective_min }} as threshold
    from collective_episodes
    inner join community_petitions
        on collective_episodes.community_code = community_petitions.community_code
        and collective_episodes.petition_category = community_petitions.petition_category
        and community_petitions.received_at >= collective_episodes.raised_at - interval {{ collective_window_days }} days
        and community_petitions.received_at <= collective_episodes.last_trigger_at
    group by all
),

-- spike: see mart_alert_spike_scores
spike_alerts as (
    select
        'grid_spike|' || spikes.grid_category_day_key as alert_key,
        'grid_spike' as rule,
        case when spikes.p_value < 1e-6 and spikes.incident_count >= 10 then 'red' else 'orange' end as severity,
        spikes.grid_code,
        left(spikes.grid_code, 12) as community_code,
        left(spikes.grid_code, 9) as street_code,
        cast(null as string) as person_key,
        spikes.taxonomy_code as category,
        {{ zhili_string_agg('incidents.incident_key', "','", 'incidents.received_at, incidents.incident_key') }} as evidence_keys,
        count(*) as evidence_count,
        min(incidents.received_at) as raised_at,
        max(incidents.received_at) as last_evidence_at,
        bool_or(not incidents.is_closed) as is_open,
        spikes.incident_count as metric_value,
        {{ var('spike_min_count', 5) }} as threshold
    from spikes
    inner join incidents
        on spikes.grid_code = incidents.grid_code
        and spikes.taxonomy_code = incidents.taxonomy_code
        and spikes.activity_date = incidents.received_date
    group by all
),

-- escalated dispute: a grid-event dispute whose people later appear in a 110 call or a petition
disputes as (
    select
        incidents.incident_key,
        incidents.received_at,
        incidents.grid_code,
        incidents.community_code,
        incidents.street_code,
        people.person_key
    from incidents
    inner join people
        on incidents.incident_key = people.incident_key
    where incidents.source_feed = 'grid_events'
        and incidents.source_category = '矛盾纠纷'
),

later as (
    select
        incidents.incident_key,
        incidents.source_feed,
        incidents.source_category,
        incidents.received_at,
        incidents.is_closed,
        people.person_key
    from incidents
    inner join people
        on incidents.incident_key = people.incident_key
    where incidents.source_feed in ('police_incidents', 'petitions')
),

-- each dispute with each later record of one of its people
escalation_matches as (
    select
        disputes.incident_key as dispute_key,
        disputes.received_at as dispute_at,
        disputes.grid_code,
        disputes.community_code,
        disputes.street_code,
        disputes.person_key,
        later.incident_key as later_key,
        later.received_at as later_at,
        later.is_closed as later_closed,
        later.source_category as later_category
    from disputes
    inner join later
        on disputes.person_key = later.person_key
        and later.received_at > disputes.received_at
        and later.received_at <= disputes.received_at + interval {{ escalation_window_days }} days
),

-- the later records' keys, each once, in an aggregate of its own: Spark's planner fails on an ordered, distinct
-- string_agg beside another distinct aggregate (docs/spark.md)
escalation_later_keys as (
    select
        dispute_key,
        {{ zhili_string_agg('later_key', "','", 'later_key', distinct=true) }} as later_keys
    from escalation_matches
    group by dispute_key
),

escalations as (
    select
        matches.dispute_key,
        matches.dispute_at,
        matches.grid_code,
        matches.community_code,
        matches.street_code,
        min(matches.person_key) as person_key,
        later_keys.later_keys,
        count(distinct matches.later_key) as later_count,
        min(matches.later_at) as raised_at,
        max(matches.later_at) as last_evidence_at,
        bool_or(not matches.later_closed) as later_open,
        bool_or(matches.later_category in ('刑事案件', '治安案件')) as is_serious
    from escalation_matches as matches
    inner join escalation_later_keys as later_keys
        on matches.dispute_key = later_keys.dispute_key
    group by
        matches.dispute_key, matches.dispute_at, matches.grid_code, matches.community_code, matches.street_code,
        later_keys.later_keys
),

escalation_alerts as (
    select
        'escalated_dispute|' || escalations.dispute_key as alert_key,
        'escalated_dispute' as rule,
        case when escalations.is_serious or escalations.later_count >= 2 then 'red' else 'orange' end as severity,
        escalations.grid_code,
        escalations.community_code,
        escalations.street_code,
        escalations.person_key,
        'dispute' as category,
        escalations.dispute_key || ',' || escalations.later_keys as evidence_keys,
        1 + escalations.later_count as evidence_count,
        escalations.raised_at,
        escalations.last_evidence_at,
        escalations.later_open or not dispute_incident.is_closed as is_open,
        cast(escalations.later_count as bigint) as metric_value,
        1 as threshold
    from escalations
    inner join incidents as dispute_incident
        on escalations.dispute_key = dispute_incident.incident_key
),

-- vulnerable resident (high-risk or key care tier) named on a 110 call
vulnerable_alerts as (
    select
        'vulnerable_police|' || incidents.incident_key || '|' || people.person_key as alert_key,
        'vulnerable_police' as rule,
        case when care.care_tier = 'high_risk' then 'orange' else 'yellow' end as severity,
        coalesce(care.grid_code, incidents.grid_code) as grid_code,
        coalesce(left(care.grid_code, 12), incidents.community_code) as community_code,
        coalesce(left(care.grid_code, 9), incidents.street_code) as street_code,
        people.person_key,
        incidents.taxonomy_code as category,
        incidents.incident_key as evidence_keys,
        1 as evidence_count,
        incidents.received_at as raised_at,
        incidents.received_at as last_evidence_at,
        -- open until the person is visited after the call
        not coalesce(care.last_visit_date >= incidents.received_date, false) as is_open,
        cast(1 as bigint) as metric_value,
        1 as threshold
    from incidents
    inner join people
        on incidents.incident_key = people.incident_key
    inner join care
        on people.person_key = care.person_key
    where incidents.source_feed = 'police_incidents'
        and care.care_tier in ('high_risk', 'key')
),

-- visit overdue: a care-register person of any tier (high risk weekly, key monthly, other quarterly) whose latest
-- judged cadence period (ISO week, calendar month, calendar quarter; mart_visit_cadence) ended without a countable visit in the log, and none since
cadence_latest as (
    select
        person_key,
        {{ zhili_arg_max('cadence_status', 'period_start') }} as last_status,
        max(case when cadence_status = 'met' then period_start end) as last_met_start
    from cadence
    group by person_key
),

missed_runs as (
    select
        cadence.person_key,
        min(cadence.grid_code) as grid_code,
        min(cadence.care_tier) as care_tier,
        min(cadence.period_unit) as period_unit,
        count(*) as missed_in_row,
        min(cadence.due_date) as first_missed_due_date
    from cadence
    inner join cadence_latest
        on cadence.person_key = cadence_latest.person_key
    where cadence_latest.last_status = 'missed'
        and cadence.cadence_status = 'missed'
        and (cadence_latest.last_met_start is null or cadence.period_start > cadence_latest.last_met_start)
    group by cadence.person_key
),

visit_alerts as (
    select
        'visit_overdue|' || missed.person_key as alert_key,
        'visit_overdue' as rule,
        case when missed.missed_in_row >= 2 then 'orange' else 'yellow' end as severity,
        missed.grid_code,
        left(missed.grid_code, 12) as community_code,
        left(missed.grid_code, 9) as street_code,
        missed.person_key,
        missed.care_tier as category,
        cast(null as string) as evidence_keys,
        0 as evidence_count,
        {{ start_of_day_at(dbt.dateadd('day', 1, 'missed.first_missed_due_date')) }} as raised_at,
        cast(null as {{ zhili_timestamptz() }}) as last_evidence_at,
        true as is_open,
        cast(missed.missed_in_row as bigint) as metric_value,
        1 as threshold
    from missed_runs as missed
),

-- grid_visits (issue 23): a visit typed in at the desk (submitted far from the visited address), one alert
-- per visit, open for 30 days; evidence: mart_visit_alert_evidence (visits are not incidents)
desk_visit_alerts as (
    select
        'visit_desk_typed|' || visits.visit_id as alert_key,
        'visit_desk_typed' as rule,
        'yellow' as severity,
        visits.grid_code,
        coalesce(visits.community_code, left(visits.grid_code, 12)) as community_code,
        left(visits.grid_code, 9) as street_code,
        visits.person_key,
        visits.visit_mode as category,
        cast(null as string) as evidence_keys,
        1 as evidence_count,
        visits.visited_at as raised_at,
        visits.visited_at as last_evidence_at,
        visits.visited_date > as_of.as_of_date - 30 as is_open,
        cast(visits.distance_m as bigint) as metric_value,
        {{ var('desk_typed_visit_m', 500) }} as threshold
    from {{ ref('fct_visit') }} as visits
    cross join as_of
    where visits.is_desk_typed and not visits.is_repeat_submission and visits.visited_date <= as_of.as_of_date
),

-- 一格一人: a grid without an active 专职网格员 for more than 7 days (mart_grid_staffing), raised on the 8th day
staffing_alerts as (
    select
        'grid_unstaffed|' || staffing.vacancy_key as alert_key,
        'grid_unstaffed' as rule,
        case when staffing.vacant_days > 30 then 'orange' else 'yellow' end as severity,
        staffing.grid_code,
        left(staffing.grid_code, 12) as community_code,
        left(staffing.grid_code, 9) as street_code,
        cast(null as string) as person_key,
        cast(null as string) as category,
        cast(null as string) as evidence_keys,
        0 as evidence_count,
        {{ start_of_day_at("staffing.vacant_from + 8") }} as raised_at,
        cast(null as {{ zhili_timestamptz() }}) as last_evidence_at,
        staffing.is_open,
        cast(staffing.vacant_days as bigint) as metric_value,
        7 as threshold
    from {{ ref('mart_grid_staffing') }} as staffing
    where staffing.vacant_days > 7
),

-- petitions overdue, or due within 5 days
deadline_alerts as (
    select
        case when petitions.due_at < {{ start_of_day_at(dbt.dateadd('day', 1, 'as_of.as_of_date')) }}
            then 'petition_overdue' else 'petition_due_soon' end || '|' || petitions.incident_key as alert_key,
        case when petitions.due_at < {{ start_of_day_at(dbt.dateadd('day', 1, 'as_of.as_of_date')) }}
            then 'petition_overdue' else 'petition_due_soon' end as rule,
        case when petitions.due_at < {{ start_of_day_at(dbt.dateadd('day', 1, 'as_of.as_of_date')) }}
            then 'orange' else 'yellow' end as severity,
        petitions.grid_code,
        petitions.community_code,
        petitions.street_code,
        cast(null as string) as person_key,
        petitions.taxonomy_code as category,
        petitions.incident_key as evidence_keys,
        1 as evidence_count,
        case when petitions.due_at < {{ start_of_day_at(dbt.dateadd('day', 1, 'as_of.as_of_date')) }}
            then petitions.due_at
            else petitions.due_at - interval {{ due_soon_days }} days end as raised_at,
        petitions.received_at as last_evidence_at,
        true as is_open,
        cast({{ dbt.datediff('as_of.as_of_date', 'cast(petitions.due_at as date)', 'day') }} as bigint) as metric_value,
        {{ due_soon_days }} as threshold
    from petitions
    cross join as_of
    where not petitions.is_closed
        and petitions.due_at is not null
        and petitions.due_at < {{ start_of_day_at(dbt.dateadd('day', 1 + due_soon_days, 'as_of.as_of_date')) }}
),

-- 12345 orders (docs/alerts/hotline_deadlines.md): the last dispatch not signed for within its limit, open
-- past the deadline in force, or falling due before the end of the day after the reporting date (the
-- 日研判 same-day list); judged at the end of the reporting date
hotline_open as (
    select
        hotline.*,
        as_of.as_of_date,
        {{ start_of_day_at(dbt.dateadd('day', 1, 'as_of.as_of_date')) }} as as_of_end_at
    from {{ ref('fct_hotline_order') }} as hotline
    cross join as_of
    where hotline.called_date <= as_of.as_of_date
        and not hotline.is_cancelled
        and hotline.closed_at is null
),

hotline_last_dispatch as (
    select * from (
        select
            steps.*,
            row_number() over (partition by steps.order_id order by steps.dispatch_no desc) as rank_
        from {{ ref('fct_hotline_step') }} as steps
        where steps.is_dispatch
    ) as ranked
    where rank_ = 1
),

hotline_alerts as (
    select
        rules.rule || '|' || hotline_open.incident_key as alert_key,
        rules.rule,
        rules.severity,
        hotline_open.grid_code,
        hotline_open.community_code,
        hotline_open.street_code,
        cast(null as string) as person_key,
        hotline_open.taxonomy_code as category,
        hotline_open.incident_key as evidence_keys,
        1 as evidence_count,
        case rules.rule
            when 'hotline_unsigned' then hotline_last_dispatch.sign_limit_at
            when 'hotline_overdue' then hotline_open.due_at
            else hotline_open.as_of_end_at
        end as raised_at,
        hotline_open.updated_at as last_evidence_at,
        true as is_open,
        cast(case rules.rule
            when 'hotline_unsigned' then {{ dbt.datediff('hotline_last_dispatch.sign_limit_at', 'hotline_open.as_of_end_at', 'minute') }}
            else {{ dbt.datediff('hotline_open.as_of_end_at', 'hotline_open.due_at', 'minute') }}
        end as bigint) as metric_value,
        0 as threshold
    from hotline_open
    left join hotline_last_dispatch
        on hotline_open.order_id = hotline_last_dispatch.order_id
    cross join (values ('hotline_unsigned', 'orange'), ('hotline_overdue', 'orange'), ('hotline_due_soon', 'yellow'))
        as rules(rule, severity)
    where case rules.rule
        when 'hotline_unsigned' then hotline_last_dispatch.signed_at is null
            and hotline_last_dispatch.sign_limit_at <= hotline_open.as_of_end_at
        when 'hotline_overdue' then hotline_open.due_at < hotline_open.as_of_end_at
        else hotline_open.due_at >= hotline_open.as_of_end_at
            and hotline_open.due_at < {{ dbt.dateadd('day', 1, 'hotline_open.as_of_end_at') }}
    end
),

-- 12345 repeated matter: the same caller (by linkage) with >= 2 orders, or the same address point with >= 3
-- problem reports (投诉, 求助, 举报), of one 诉求分类 within 30 days (docs/alerts/hotline_repeat.md)
hotline_subjects as (
    select 'caller' as subject_kind, caller_person_key as subject, *
    from {{ ref('fct_hotline_order') }}
    where caller_person_key is not null and category is not null and called_date <= {{ as_of_date() }}
    union all
    select 'address' as subject_kind, address_code as subject, *
    from {{ ref('fct_hotline_order') }}
    where address_code is not null and category is not null and called_date <= {{ as_of_date() }}
        and request_type in ('{{ hotline_problem_types | join("', '") }}')
),

hotline_subjects_counted as (
    select
        hotline_subjects.*,
        count(*) over (
            partition by subject_kind, subject, category
            order by called_at
            range between interval {{ hotline_repeat_days }} days preceding and current row
        ) as trailing_orders
    from hotline_subjects
),

hotline_repeat_triggers as (
    select
        subject_kind,
        subject,
        category,
        min(called_at) as raised_at,
        max(trailing_orders) as max_trailing
    from hotline_subjects_counted
    where trailing_orders >= case when subject_kind = 'address' then {{ hotline_repeat_address_min }} else {{ hotline_repeat_min }} end
    group by subject_kind, subject, category
),

hotline_repeat_alerts as (
    select
        'hotline_repeat_' || triggers.subject_kind || '|' || triggers.subject || '|' || triggers.category as alert_key,
        'hotline_repeat_' || triggers.subject_kind as rule,
        case when triggers.max_trailing >= 3 + case when triggers.subject_kind = 'address' then 1 else 0 end
            then 'orange' else 'yellow' end as severity,
        max(orders.grid_code) as grid_code,
        max(orders.community_code) as community_code,
        max(orders.street_code) as street_code,
        case when triggers.subject_kind = 'caller' then triggers.subject end as person_key,
        triggers.category,
        {{ zhili_string_agg('orders.incident_key', "','", 'orders.called_at, orders.incident_key') }} as evidence_keys,
        count(*) as evidence_count,
        triggers.raised_at,
        max(orders.called_at) as last_evidence_at,
        bool_or(orders.closed_at is null and not orders.is_cancelled) as is_open,
        cast(triggers.max_trailing as bigint) as metric_value,
        case when triggers.subject_kind = 'address' then {{ hotline_repeat_address_min }} else {{ hotline_repeat_min }} end
            as threshold
    from hotline_repeat_triggers as triggers
    inner join hotline_subjects as orders
        on triggers.subject_kind = orders.subject_kind
        and triggers.subject = orders.subject
        and triggers.category = orders.category
        and orders.called_at >= triggers.raised_at - interval {{ hotline_repeat_days }} days
    group by triggers.subject_kind, triggers.subject, triggers.category, triggers.raised_at, triggers.max_trailing
),

-- 12345 cross-channel escalation (docs/alerts/cross_channel_escalation.md): a 12345 order whose person or
-- address point also appears in a 110 call and a petition within 14 days (mart_alert_cross_channel); one alert
-- per order, the order and the linked records as evidence
hotline_escalation_alerts as (
    select
        'cross_channel_escalation|' || orders.incident_key as alert_key,
        'cross_channel_escalation' as rule,
        case when count(*) >= 3 then 'red' else 'orange' end as severity,
        {{ zhili_any_value('orders.grid_code') }} as grid_code,
        {{ zhili_any_value('orders.community_code') }} as community_code,
        {{ zhili_any_value('orders.street_code') }} as street_code,
        {{ zhili_any_value('orders.caller_person_key') }} as person_key,
        {{ zhili_any_value('orders.taxonomy_code') }} as category,
        orders.incident_key || ',' || {{ zhili_string_agg('links.incident_key', "','", 'links.received_at, links.incident_key') }}
            as evidence_keys,
        1 + count(*) as evidence_count,
        -- raised once all three channels had appeared
        greatest(
            {{ zhili_any_value('orders.called_at') }},
            min(links.received_at) filter (where links.source_feed = 'police_incidents'),
            min(links.received_at) filter (where links.source_feed = 'petitions')
        ) as raised_at,
        greatest({{ zhili_any_value('orders.called_at') }}, max(links.received_at)) as last_evidence_at,
        bool_or(not coalesce(others.is_closed, true)) or {{ zhili_any_value('orders.closed_at is null') }} as is_open,
        cast(count(distinct links.source_feed) + 1 as bigint) as metric_value,
        3 as threshold
    from {{ ref('mart_alert_cross_channel') }} as links
    inner join {{ ref('fct_hotline_order') }} as orders
        on links.order_incident_key = orders.incident_key
    left join incidents as others
        on links.incident_key = others.incident_key
    group by orders.incident_key
),

-- 12345 topic spike (docs/alerts/hotline_topic_spike.md): a community's orders of one taxonomy code on one day
-- far above its trailing 8 weeks (mart_alert_hotline_topic_scores); evidence: the day's orders
hotline_topic_alerts as (
    select
        'hotline_topic_spike|' || spikes.community_topic_day_key as alert_key,
        'hotline_topic_spike' as rule,
        case when spikes.p_value < 1e-6 and spikes.order_count >= 10 then 'red' else 'orange' end as severity,
        cast(null as string) as grid_code,
        spikes.community_code,
        spikes.street_code,
        cast(null as string) as person_key,
        spikes.taxonomy_code as category,
        {{ zhili_string_agg('orders.incident_key', "','", 'orders.called_at, orders.incident_key') }} as evidence_keys,
        count(*) as evidence_count,
        min(orders.called_at) as raised_at,
        max(orders.called_at) as last_evidence_at,
        bool_or(orders.closed_at is null) as is_open,
        spikes.order_count as metric_value,
        {{ var('hotline_topic_min_count', 5) }} as threshold
    from {{ ref('mart_alert_hotline_topic_scores') }} as spikes
    inner join {{ ref('fct_hotline_order') }} as orders
        on spikes.community_code = orders.community_code
        and spikes.taxonomy_code = orders.taxonomy_code
        and spikes.activity_date = orders.called_date
        and not orders.is_cancelled
    where spikes.is_spike
    group by spikes.community_topic_day_key, spikes.p_value, spikes.order_count, spikes.community_code,
        spikes.street_code, spikes.taxonomy_code
),

-- credit_points (issue 23): what a points ledger should not hold, one alert per entry (per subject, item and
-- month for the monthly limit), raised when the entry was reviewed; evidence: the 流水号 in
-- marts.mart_credit_alert_evidence
credit_entries as (
    select
        entries.*,
        -- the member, where a resident the warehouse knows (alerts name residents only)
        known.person_key as resident_person_key
    from {{ ref('fct_credit_entry') }} as entries
    left join {{ ref('dim_resident') }} as known
        on entries.member_person_key = known.person_key
    where entries.occurred_date <= {{ as_of_date() }}
),

credit_alerts as (
    select
        rules.rule || '|' || credit_entries.entry_id as alert_key,
        rules.rule,
        rules.severity,
        cast(null as string) as grid_code,
        credit_entries.community_code,
        left(credit_entries.community_code, 9) as street_code,
        credit_entries.resident_person_key as person_key,
        credit_entries.item_code as category,
        -- evidence is entries, not incidents: marts.mart_credit_alert_evidence (as visits keep theirs)
        cast(null as string) as evidence_keys,
        case when rules.rule = 'credit_repeat_entry' then 2 else 1 end as evidence_count,
        credit_entries.reviewed_at as raised_at,
        credit_entries.reviewed_at as last_evidence_at,
        credit_entries.review_status <> '已驳回' as is_open,
        case when rules.rule = 'credit_member_departed'
            then cast({{ dbt.datediff('credit_entries.member_left_date', 'credit_entries.occurred_date', 'day') }} as bigint)
            else cast(1 as bigint) end as metric_value,
        0 as threshold
    from credit_entries
    cross join (values
        ('credit_member_departed', 'orange'),
        ('credit_item_invalid', 'yellow'),
        ('credit_repeat_entry', 'yellow')
    ) as rules(rule, severity)
    where (rules.rule = 'credit_member_departed' and credit_entries.is_after_member_left)
        or (rules.rule = 'credit_item_invalid' and credit_entries.is_outside_validity)
        or (rules.rule = 'credit_repeat_entry' and credit_entries.is_repeat_entry)

    union all

    select
        'credit_over_limit|' || subject_key || '|' || item_code || '|' || {{ zhili_format_date('occurred_month', '%Y%m') }}
            as alert_key,
        'credit_over_limit' as rule,
        'yellow' as severity,
        cast(null as string) as grid_code,
        {{ zhili_any_value('community_code') }} as community_code,
        left({{ zhili_any_value('community_code') }}, 9) as street_code,
        {{ zhili_any_value('resident_person_key') }} as person_key,
        item_code as category,
        cast(null as string) as evidence_keys,
        count(*) as evidence_count,
        min(reviewed_at) filter (where is_over_limit) as raised_at,
        max(reviewed_at) as last_evidence_at,
        true as is_open,
        count(*) as metric_value,
        {{ zhili_any_value('monthly_limit') }} as threshold
    from credit_entries
    where monthly_limit is not null and uses_in_month > monthly_limit
    group by subject_key, item_code, occurred_month
),

-- 三张清单: a need unaccepted after 3 days, a category with demand and no active resource; their evidence
-- (需求编号, not incident keys) stays in mart_service_alert_evidence, joined on alert_key
service_alerts as (
    select
        {{ zhili_star_except(ref('mart_service_alert_evidence'), ['evidence_keys']) }},
        cast(null as string) as evidence_keys
    from {{ ref('mart_service_alert_evidence') }}
),

-- every rule's alerts, the columns named (Spark's SQL has no union by name)
unioned as (
    {%- for rule_alerts in rule_ctes %}
    select {{ alert_columns | join(', ') }} from {{ rule_alerts }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        -- ids
        cast(unioned.alert_key as string) as alert_key,
        cast(unioned.rule as string) as rule,
        cast(unioned.severity as string) as severity,
        -- where / who
        cast(unioned.grid_code as string) as grid_code,
        cast(unioned.community_code as string) as community_code,
        cast(unioned.street_code as string) as street_code,
        cast(unioned.person_key as string) as person_key,
        cast(unioned.category as string) as category,
        -- evidence
        cast(unioned.evidence_keys as string) as evidence_keys,
        cast(unioned.evidence_count as bigint) as evidence_count,
        cast(unioned.metric_value as bigint) as metric_value,
        cast(unioned.threshold as bigint) as threshold,
        -- when
        cast(unioned.raised_at as {{ zhili_timestamptz() }}) as raised_at,
        cast(unioned.last_evidence_at as {{ zhili_timestamptz() }}) as last_evidence_at,
        cast(unioned.is_open as boolean) as is_open
    from unioned
)

select * from final
