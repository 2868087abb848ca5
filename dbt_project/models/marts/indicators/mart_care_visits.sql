{#- 探访关爱: one row per resident in a care tier, as of as_of_date, with the
    tier's visit interval and the last known visit. Tiers (care policy,
    practice): high_risk = aged 80+ and living alone, empty-nest or
    left-behind (weekly); key = 特困 分散供养 or disability grade 1-2
    (monthly); other = anyone else on a care or benefit roll (quarterly). The last visit is the latest of
    the visit log's (grid_visits, fct_visit), the elderly roll's 最近走访日期 and a care grid event. -#}
with

residents as (
    select * from {{ ref('dim_resident') }}
),

profiles as (
    select person_key, is_left_behind from {{ ref('int_residents_profiled') }}
),

-- a roll row belongs to its resolved person (int_persons_resolved: valid IDs and, once linkage has run,
-- damaged, typo'd and missing IDs too), not only to its own valid-ID key: a beneficiary with no ID counts
resolved as (
    select record_locator, person_key from {{ ref('int_persons_resolved') }}
    where feed = 'civil_affairs' and person_key is not null
),

rolls as (
    select
        {{ zhili_star_except(ref('stg_civil_affairs'), ['person_key'], 'roll_rows') }},
        coalesce(resolved.person_key, roll_rows.person_key) as person_key
    from {{ ref('stg_civil_affairs') }} as roll_rows
    left join resolved
        on roll_rows.record_locator = resolved.record_locator
    where coalesce(resolved.person_key, roll_rows.person_key) is not null
),

incidents as (
    select * from {{ ref('fct_incident') }}
),

people as (
    select * from {{ ref('bridge_incident_person') }}
    where person_key is not null
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

latest_roll_month as (
    select programme, max(month_date) as month_date from rolls group by programme
),

on_latest_roll as (
    select rolls.*
    from rolls
    inner join latest_roll_month
        on rolls.programme = latest_roll_month.programme
        and rolls.month_date = latest_roll_month.month_date
),

roll_facts as (
    select
        person_key,
        bool_or(programme = 'extreme_poverty' and support_mode = '分散供养') as is_dispersed_poverty,
        max(case when programme = 'elderly_alone' then last_visit_date end) as roll_visit_date
    from on_latest_roll
    group by person_key
),

-- a grid event about special groups or elderly care that names the person counts as a visit
event_visits as (
    select
        people.person_key,
        max(incidents.received_date) as event_visit_date
    from incidents
    inner join people
        on incidents.incident_key = people.incident_key
    cross join as_of
    where incidents.source_feed = 'grid_events'
        and (incidents.source_category = '特殊人群' or incidents.source_subcategory = '养老服务')
        and incidents.received_date <= as_of.as_of_date
    group by people.person_key
),

-- the visit log (grid_visits): the latest countable visit on or before the as-of date (fct_visit: not a
-- repeat submission, not typed in at the desk, not to someone who had left)
logged_visits as (
    select
        visits.person_key,
        max(visits.visited_date) as logged_visit_date
    from {{ ref('fct_visit') }} as visits
    cross join as_of
    where visits.is_countable and visits.person_key is not null and visits.visited_date <= as_of.as_of_date
    group by visits.person_key
),

tiered as (
    select
        residents.person_key,
        residents.grid_code,
        residents.age_years,
        case
            when residents.age_years >= 80
                and (residents.is_living_alone or residents.is_empty_nest or coalesce(profiles.is_left_behind, false))
                then 'high_risk'
            when coalesce(roll_facts.is_dispersed_poverty, false)
                -- the roll writes the grade as 1级 / 二级 as often as a bare digit: a cast alone never read it
                or (residents.is_disabled and coalesce(
                    try_cast(regexp_extract(residents.disability_grade, '([1-4])', 1) as integer),
                    case
                        when residents.disability_grade like '%一%' then 1
                        when residents.disability_grade like '%二%' then 2
                    end
                ) <= 2)
                then 'key'
            when residents.is_living_alone or residents.is_empty_nest or coalesce(profiles.is_left_behind, false)
                or residents.is_aged_allowance or residents.is_low_income or residents.is_extreme_poverty
                or residents.is_disabled
                then 'other'
        end as care_tier,
        residents.is_living_alone,
        residents.is_empty_nest,
        coalesce(profiles.is_left_behind, false) as is_left_behind,
        greatest(roll_facts.roll_visit_date, event_visits.event_visit_date, logged_visits.logged_visit_date)
            as last_visit_date,
        logged_visits.logged_visit_date
    from residents
    left join profiles
        on residents.person_key = profiles.person_key
    left join roll_facts
        on residents.person_key = roll_facts.person_key
    left join event_visits
        on residents.person_key = event_visits.person_key
    left join logged_visits
        on residents.person_key = logged_visits.person_key
),

final as (
    select
        -- ids
        tiered.person_key,
        tiered.grid_code,
        -- tier
        tiered.care_tier,
        cast(case tiered.care_tier when 'high_risk' then 7 when 'key' then 30 else 90 end as integer) as visit_interval_days,
        cast(tiered.age_years as integer) as age_years,
        tiered.is_living_alone,
        tiered.is_empty_nest,
        tiered.is_left_behind,
        -- visits
        tiered.last_visit_date,
        tiered.logged_visit_date,
        cast({{ dbt.datediff('tiered.last_visit_date', 'as_of.as_of_date', 'day') }} as integer) as days_since_visit,
        coalesce(
            {{ dbt.datediff('tiered.last_visit_date', 'as_of.as_of_date', 'day') }}
                <= case tiered.care_tier when 'high_risk' then 7 when 'key' then 30 else 90 end,
            false
        ) as is_visited_within_interval,
        as_of.as_of_date
    from tiered
    cross join as_of
    where tiered.care_tier is not null
)

select * from final
