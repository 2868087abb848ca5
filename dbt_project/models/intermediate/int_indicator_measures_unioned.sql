{#- The governance indicators' numerators and denominators per indicator, day, source, category, place
    (grid, community, street, county) and, for 12345, 承办单位: every record rule of mart_indicators, summed
    before any fan-out. Its own table so that mart_indicators' fan-out (levels x period grains x slices) reads
    sums once: on Spark, whose optimiser copies a CTE into every place that reads it, the one query of both
    ran out of memory while being analysed (docs/spark.md). Formulas: the mart_indicators docs block and
    docs/indicators/. -#}
{%- set due_soon_days = var('due_soon_days', 5) -%}
{%- set repeat_window_days = var('repeat_petition_window_days', 90) -%}
with

incidents as (
    select * from {{ ref('fct_incident') }}
),

petitions as (
    select * from {{ ref('fct_petition') }}
),

people as (
    select * from {{ ref('bridge_incident_person') }}
    where person_key is not null
),

grids as (
    select * from {{ ref('dim_grid') }}
),

hotline_orders as (
    select * from {{ ref('fct_hotline_order') }}
),

hotline_dispatches as (
    select * from {{ ref('fct_hotline_step') }}
    where is_dispatch
),

as_of as (
    select
        {{ as_of_date() }} as as_of_date,
        {{ start_of_day_at(dbt.dateadd('day', 1, as_of_date())) }} as as_of_end_at
),

county as (
    -- unplaced records still count at county level: the registry's county
    select min(county_code) as county_code from grids
),

-- 重复信访: a petition one of whose petitioners (by linkage) petitioned on the
-- same second-level category within the previous 90 days
petition_people as (
    select distinct
        incidents.incident_key,
        incidents.received_at,
        incidents.source_subcategory,
        people.person_key
    from incidents
    inner join people
        on incidents.incident_key = people.incident_key
    where incidents.source_feed = 'petitions'
),

repeats as (
    select distinct later.incident_key
    from petition_people as later
    inner join petition_people as earlier
        on later.person_key = earlier.person_key
        and later.source_subcategory = earlier.source_subcategory
        and later.incident_key <> earlier.incident_key
        and earlier.received_at < later.received_at
        and earlier.received_at >= later.received_at - interval {{ repeat_window_days }} days
),

base as (
    select
        incidents.incident_key,
        incidents.source_feed,
        incidents.taxonomy_code,
        incidents.source_category,
        incidents.source_status,
        incidents.status,
        incidents.is_closed,
        incidents.is_closed_on_time,
        incidents.handling_level,
        incidents.satisfaction,
        incidents.received_date,
        cast(incidents.closed_at as date) as closed_date,
        incidents.closed_at,
        incidents.due_at,
        -- the day a case falls due (due_at is exclusive: midnight after a dated due day)
        cast(incidents.due_at - interval 1 microsecond as date) as due_date,
        incidents.grid_code,
        incidents.community_code,
        incidents.street_code,
        coalesce(left(incidents.street_code, 6), left(incidents.community_code, 6), left(incidents.grid_code, 6), county.county_code) as county_code,
        coalesce(petitions.is_collective, false) as is_collective,
        repeats.incident_key is not null as is_repeat,
        -- closed as of the reporting date
        incidents.is_closed and incidents.closed_at < as_of.as_of_end_at as is_closed_as_of,
        as_of.as_of_date,
        as_of.as_of_end_at
    from incidents
    cross join as_of
    cross join county
    left join petitions
        on incidents.incident_key = petitions.incident_key
    left join repeats
        on incidents.incident_key = repeats.incident_key
    where incidents.received_date <= as_of.as_of_date
        -- 12345 orders are judged by their own scheme (hotline_measures below), not these rules
        and incidents.source_feed is distinct from 'hotline_orders'
),

measures as (
    -- 办结率: received in the period; closed (as of the reporting date) / received
    select *, 'closure_rate' as indicator_code, received_date as measure_date,
        case when is_closed_as_of then 1 else 0 end as num, 1 as den
    from base

    union all
    -- 按期办结率: cases that fell due in the period (due day <= as of); closed by the due time / due
    select *, 'on_time_closure_rate', due_date,
        case when is_closed_on_time and closed_at < as_of_end_at then 1 else 0 end, 1
    from base
    where due_date <= as_of_date

    union all
    -- 超期未结: open as of the reporting date and past due, by due day
    select *, 'overdue_open', due_date, 1, 0
    from base
    where not is_closed_as_of and due_at < as_of_end_at

    union all
    -- 即将超期: open and falling due within the next 5 days, by due day
    select *, 'due_soon', due_date, 1, 0
    from base
    where not is_closed_as_of
        and due_at >= as_of_end_at
        and due_at < as_of_end_at + interval {{ due_soon_days }} days

    union all
    -- 满意率: closed in the period and rated; (满意 + 基本满意) / rated
    select *, 'satisfaction_rate', closed_date,
        case when satisfaction in ('满意', '基本满意') then 1 else 0 end, 1
    from base
    where is_closed_as_of and status = 'closed' and satisfaction is not null

    union all
    -- 参评率: closed in the period; rated / closed
    select *, 'rating_rate', closed_date,
        case when satisfaction is not null then 1 else 0 end, 1
    from base
    where is_closed_as_of and status = 'closed' and source_feed <> 'police_incidents'

    union all
    -- 矛盾纠纷化解率: disputes (grid events 矛盾纠纷, 110 纠纷) received in the period;
    -- resolved (closed, except 调解不成功) / disputes
    select *, 'dispute_resolution_rate', received_date,
        case when is_closed_as_of and status = 'closed' and source_status <> '调解不成功' then 1 else 0 end, 1
    from base
    where (source_feed = 'grid_events' and source_category = '矛盾纠纷')
        or (source_feed = 'police_incidents' and source_category = '纠纷')

    union all
    -- 网格内办结率: closed in the period with a handling level; closed at 网格 / closed
    select *, 'grid_closure_share', closed_date,
        case when handling_level = '网格' then 1 else 0 end, 1
    from base
    where is_closed_as_of and status = 'closed' and handling_level is not null

    union all
    -- 社区内办结率: closed at 网格 or 社区 / closed
    select *, 'community_closure_share', closed_date,
        case when handling_level in ('网格', '社区') then 1 else 0 end, 1
    from base
    where is_closed_as_of and status = 'closed' and handling_level is not null

    union all
    -- 层级化解占比: closed grid events resolved at or below each level / closed grid events
    select base.*, 'level_share_' || levels.level_code, closed_date,
        case when levels.level_rank >= case handling_level when '网格' then 1 when '社区' then 2 when '街道' then 3 else 4 end
            then 1 else 0 end, 1
    from base
    cross join (values ('grid', 1), ('community', 2), ('street', 3), ('county', 4)) as levels(level_code, level_rank)
    where is_closed_as_of and status = 'closed' and source_feed = 'grid_events' and handling_level is not null

    union all
    -- 重复信访率: petitions received in the period; repeats (同人 + 同事, by linkage) / petitions
    select *, 'repeat_petition_rate', received_date,
        case when is_repeat then 1 else 0 end, 1
    from base
    where source_feed = 'petitions'

    union all
    -- 集体访: petitions with 5 or more petitioners received in the period (count)
    select *, 'collective_petitions', received_date, 1, 0
    from base
    where source_feed = 'petitions' and is_collective

    union all
    -- 万人警情率 numerator: 110 calls received in the period (denominator: population, below)
    select *, 'police_per_10k', received_date, 1, 0
    from base
    where source_feed = 'police_incidents'
),

-- 12345 接诉即办: every rate by the month of the call, by place and by 承办单位 (unit_name: the unit a
-- dispatch went to for 响应率, the last unit that held the order otherwise); docs/indicators/hotline.md
hotline_base as (
    select
        hotline_orders.*,
        hotline_orders.called_date as measure_date,
        coalesce(left(hotline_orders.street_code, 6), left(hotline_orders.community_code, 6),
                 left(hotline_orders.grid_code, 6), county.county_code) as county_code
    from hotline_orders
    cross join county
    cross join as_of
    where hotline_orders.called_date <= as_of.as_of_date
),

hotline_measures as (
    select 'hotline_orders_received' as indicator_code, measure_date, taxonomy_code, grid_code, community_code, street_code,
        county_code, last_unit as unit_name, 1 as num, 0 as den
    from hotline_base
    union all
    select 'hotline_response_rate', hotline_base.measure_date, hotline_base.taxonomy_code, hotline_base.grid_code,
        hotline_base.community_code, hotline_base.street_code, hotline_base.county_code, hotline_dispatches.unit_in_charge,
        case when hotline_dispatches.is_signed_in_limit then 1 else 0 end, 1
    from hotline_base
    inner join hotline_dispatches
        on hotline_base.order_id = hotline_dispatches.order_id
    cross join as_of
    where hotline_dispatches.signed_at is not null or hotline_dispatches.sign_limit_at <= as_of.as_of_end_at
    union all
    select 'hotline_resolution_rate', measure_date, taxonomy_code, grid_code, community_code, street_code, county_code,
        last_unit, case when followup_result = '已解决' then 1 else 0 end, 1
    from hotline_base
    where followup_result is not null
    union all
    select 'hotline_satisfaction_rate', measure_date, taxonomy_code, grid_code, community_code, street_code, county_code,
        last_unit, case when satisfaction in ('满意', '基本满意') then 1 else 0 end, 1
    from hotline_base
    where satisfaction in ('满意', '基本满意', '不满意')
    union all
    select 'hotline_on_time_rate', measure_date, taxonomy_code, grid_code, community_code, street_code, county_code,
        last_unit, case when is_closed_on_time then 1 else 0 end, 1
    from hotline_base
    where is_due
    union all
    select 'hotline_return_rate', measure_date, taxonomy_code, grid_code, community_code, street_code, county_code,
        last_unit, case when return_count > 0 then 1 else 0 end, 1
    from hotline_base
    where first_dispatched_at is not null
    union all
    select 'hotline_reopen_rate', measure_date, taxonomy_code, grid_code, community_code, street_code, county_code,
        last_unit, case when is_reopened then 1 else 0 end, 1
    from hotline_base
    where first_closed_at is not null and not is_cancelled
    union all
    select 'hotline_direct_rate', measure_date, taxonomy_code, grid_code, community_code, street_code, county_code,
        last_unit, case when is_direct then 1 else 0 end, 1
    from hotline_base
    where is_closed
    union all
    select 'hotline_mean_working_days_to_close', measure_date, taxonomy_code, grid_code, community_code, street_code,
        county_code, last_unit, working_days_to_close, 1
    from hotline_base
    where is_closed and working_days_to_close is not null
    union all
    select 'hotline_group_share', measure_date, taxonomy_code, grid_code, community_code, street_code, county_code,
        last_unit, case when is_neighbourhood_group then 1 else 0 end, 1
    from hotline_base
),

-- grid_visits (issue 23): 入户率 and problems found per 100 visits, over countable visits (fct_visit: not a
-- repeat submission, not desk-typed, not to someone who had left), by visit day and the visited address's grid;
-- the category is the kind of person visited (走访对象类型)
visit_measures as (
    select
        'home_visit_share' as indicator_code,
        visits.visited_date as measure_date,
        'grid_visits' as source_feed,
        coalesce(visits.subject_type, 'unknown') as taxonomy_code,
        visits.grid_code,
        coalesce(visits.community_code, left(visits.grid_code, 12)) as community_code,
        left(visits.grid_code, 9) as street_code,
        coalesce(left(visits.grid_code, 6), county.county_code) as county_code,
        case when visits.is_home_visit then 1 else 0 end as num,
        1 as den
    from {{ ref('fct_visit') }} as visits
    cross join county
    cross join as_of
    where visits.is_countable and visits.visited_date <= as_of.as_of_date

    union all
    select
        'problems_per_100_visits',
        visits.visited_date,
        'grid_visits',
        coalesce(visits.subject_type, 'unknown'),
        visits.grid_code,
        coalesce(visits.community_code, left(visits.grid_code, 12)),
        left(visits.grid_code, 9),
        coalesce(left(visits.grid_code, 6), county.county_code),
        case when visits.has_problem then 1 else 0 end,
        1
    from {{ ref('fct_visit') }} as visits
    cross join county
    cross join as_of
    where visits.is_countable and visits.visited_date <= as_of.as_of_date
),

-- 三张清单 (service marts): needs attributed to the day they were posted, by 需求类别 and the need's community
-- (its key's) and grid (its address, when in that community); withdrawn needs (已撤销, a double tap's copy
-- among them) count nowhere
service_measures as (
    select
        codes.indicator_code,
        needs.posted_date as measure_date,
        'service_lists' as source_feed,
        coalesce(needs.category, 'unknown') as taxonomy_code,
        needs.grid_code,
        needs.community_code,
        needs.street_code,
        coalesce(needs.county_code, county.county_code) as county_code,
        case codes.indicator_code
            when 'service_response_rate' then case when needs.is_accepted_within_day then 1 else 0 end
            when 'service_same_day_rate' then case when needs.is_closed_same_day then 1 else 0 end
            when 'service_closure_rate' then case when needs.is_closed then 1 else 0 end
            when 'service_satisfaction_rate' then case when needs.is_satisfied then 1 else 0 end
            when 'wish_completion_rate' then case when needs.is_closed then 1 else 0 end
        end as num,
        1 as den
    from {{ ref('fct_service_need') }} as needs
    cross join (
        values ('service_response_rate'), ('service_same_day_rate'), ('service_closure_rate'),
            ('service_satisfaction_rate'), ('wish_completion_rate')
    ) as codes (indicator_code)
    cross join county
    cross join as_of
    where not needs.is_withdrawn
        and needs.posted_date <= as_of.as_of_date
        and (codes.indicator_code <> 'service_satisfaction_rate' or needs.is_rated)
        and (codes.indicator_code <> 'wish_completion_rate' or needs.is_wish)
),

-- numerators and denominators per day and place first: every fan-out below (levels, period grains,
-- slices) multiplies the rows, so each works on sums rather than records (sums add up the same);
-- fanning out the records themselves (4.2M measures x 48 at 1M residents) does not fit in memory
measured as (
    select
        indicator_code,
        measure_date,
        source_feed,
        taxonomy_code,
        grid_code,
        community_code,
        street_code,
        county_code,
        cast(null as string) as unit_name,
        sum(num) as num,
        sum(den) as den
    from measures
    where measure_date is not null
    group by all

    union all

    select
        indicator_code,
        measure_date,
        'hotline_orders' as source_feed,
        taxonomy_code,
        grid_code,
        community_code,
        street_code,
        county_code,
        unit_name,
        sum(num) as num,
        sum(den) as den
    from hotline_measures
    where measure_date is not null
    group by all

    union all

    select
        indicator_code,
        measure_date,
        source_feed,
        taxonomy_code,
        grid_code,
        community_code,
        street_code,
        county_code,
        cast(null as string) as unit_name,
        sum(num) as num,
        sum(den) as den
    from visit_measures
    where measure_date is not null
    group by all
    union all

    select
        indicator_code,
        measure_date,
        source_feed,
        taxonomy_code,
        grid_code,
        community_code,
        street_code,
        county_code,
        cast(null as string) as unit_name,
        sum(num) as num,
        sum(den) as den
    from service_measures
    where measure_date is not null
    group by all
)

select * from measured
