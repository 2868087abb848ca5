{#- 一户一档: the household file. One row per household and current member (bridge_household_member's current
    spells, the household followed across its 户号), bringing together what the departments and the community
    hold about the member: who they are (masked forms only), the benefit rolls they are on now and have been on,
    the incidents that name them, the visits they received; and the household's totals over its members, so
    one household's file reads from its rows alone.

    A member's records are theirs over the whole period, not only since they joined the household (the file
    shows the household's people, not the household's weeks). The 三张清单 needs a member raised (fct_service_need,
    by person_key, counted like incidents: those still open, i.e. not yet accepted or in hand). The points file
    (积分, credit_points): the ledger households (户编号) mart_credit_household_match joined to this register
    household, their balances summed (mart_credit_balance, as of the reporting date; a ledger household that split
    keeps its retired 户编号's balance there, so a register household its parts rejoin counts both) and the best star
    of the reporting year (mart_credit_stars); none where no ledger household joined (the match mart says why). -#}
with

members as (
    select * from {{ ref('bridge_household_member') }}
    where is_current
),

households as (
    select * from {{ ref('dim_household') }}
),

residents as (
    select * from {{ ref('dim_resident') }}
),

benefits as (
    select * from {{ ref('fct_benefit_membership') }}
),

-- the latest roll month of each programme: a member is on a roll now when listed in it
latest_rolls as (
    select programme, max(month_date) as month_date from benefits group by programme
),

-- the programme's name where the member is on its latest roll
benefits_named as (
    select
        benefits.*,
        latest_rolls.month_date is not null and benefits.is_member as is_on_roll_now,
        case when latest_rolls.month_date is not null and benefits.is_member then benefits.programme_name_zh end
            as programme_name_now
    from benefits
    left join latest_rolls
        on benefits.programme = latest_rolls.programme
        and benefits.month_date = latest_rolls.month_date
),

benefit_counts as (
    select
        person_key,
        count(distinct case when is_member then programme || '|' || month_date end) as benefit_roll_months,
        count(distinct case when is_on_roll_now then programme end) as benefit_programmes_now,
        sum(case when is_on_roll_now then monthly_amount end) as benefit_amount_now
    from benefits_named
    group by person_key
),

-- an aggregate of its own: Spark fails on a distinct, ordered string_agg beside other distinct aggregates (a
-- ClassCastException, AttributeReference to SortOrder, in its planner)
benefit_names as (
    select
        person_key,
        {{ zhili_string_agg('programme_name_now', "'、'", 'programme_name_now', distinct=true) }} as benefits_now
    from benefits_named
    group by person_key
),

member_benefits as (
    select
        benefit_counts.person_key,
        benefit_counts.benefit_roll_months,
        benefit_names.benefits_now,
        benefit_counts.benefit_programmes_now,
        benefit_counts.benefit_amount_now
    from benefit_counts
    inner join benefit_names
        on benefit_counts.person_key = benefit_names.person_key
),

incident_people as (
    select distinct
        bridge.person_key,
        incidents.incident_key,
        incidents.received_date,
        incidents.is_closed
    from {{ ref('bridge_incident_person') }} as bridge
    inner join {{ ref('fct_incident') }} as incidents
        on bridge.incident_key = incidents.incident_key
    where bridge.person_key is not null
),

member_incidents as (
    select
        person_key,
        count(distinct incident_key) as incident_count,
        count(distinct case when not is_closed then incident_key end) as open_incident_count,
        max(received_date) as last_incident_date
    from incident_people
    group by person_key
),

visits as (
    select * from {{ ref('fct_visit') }}
    where person_key is not null and is_countable
),

member_visits as (
    select
        person_key,
        count(*) as visit_count,
        count(case when is_home_visit then 1 end) as home_visit_count,
        count(case when has_problem then 1 end) as visits_finding_problems,
        max(visited_date) as last_visit_date
    from visits
    group by person_key
),

-- 三张清单: the needs a member raised (posted), open ones not yet done
needs as (
    select need_id, person_key, is_open from {{ ref('fct_service_need') }}
    where person_key is not null
),

member_needs as (
    select
        person_key,
        count(*) as service_need_count,
        count(case when is_open then 1 end) as open_service_need_count
    from needs
    group by person_key
),

household_needs as (
    select
        members.household_key,
        count(distinct case when needs.is_open then needs.need_id end) as household_open_service_need_count
    from members
    inner join needs
        on members.person_key = needs.person_key
    group by members.household_key
),

-- 积分: the ledger households joined to a register household, their balances and this year's best star
ledger_households as (
    select community_household_key, household_key from {{ ref('mart_credit_household_match') }}
    where is_matched
),

household_points as (
    select
        ledger_households.household_key,
        count(*) as points_ledger_households,
        cast(sum(balances.balance) as bigint) as points_balance
    from ledger_households
    inner join {{ ref('mart_credit_balance') }} as balances
        on ledger_households.community_household_key = balances.community_household_key
    group by ledger_households.household_key
),

household_stars as (
    select
        ledger_households.household_key,
        max(stars.stars) as points_stars,
        {{ zhili_arg_max('stars.star_name_zh', 'stars.stars') }} as points_star_name_zh
    from ledger_households
    inner join {{ ref('mart_credit_stars') }} as stars
        on ledger_households.community_household_key = stars.community_household_key
    where stars.year_start_date = cast(date_trunc('year', {{ as_of_date() }}) as date)
    group by ledger_households.household_key
),

-- the household's totals count an incident or visit once however many of its members it names
household_incidents as (
    select
        members.household_key,
        count(distinct incident_people.incident_key) as household_incident_count
    from members
    inner join incident_people
        on members.person_key = incident_people.person_key
    group by members.household_key
),

household_visits as (
    select
        members.household_key,
        count(distinct visits.visit_id) as household_visit_count,
        max(visits.visited_date) as household_last_visit_date
    from members
    inner join visits
        on members.person_key = visits.person_key
    group by members.household_key
),

final as (
    select
        -- ids
        {{ dbt.concat(['members.household_key', "'|'", 'members.member_id']) }} as household_member_key,
        members.household_key,
        members.member_id,
        members.person_key,
        -- the household
        households.household_no_masked,
        households.grid_code,
        households.member_count as household_member_count,
        households.head_person_key,
        households.split_from_household_key,
        households.last_moved_date,
        -- the member (masked display forms only)
        members.relation_to_head,
        members.is_head,
        members.valid_from as member_since,
        residents.name_masked,
        residents.id_masked,
        residents.sex,
        residents.age_years,
        -- benefits (民政 rolls)
        coalesce(member_benefits.benefit_programmes_now, 0) as benefit_programmes_now,
        member_benefits.benefits_now,
        member_benefits.benefit_amount_now,
        coalesce(member_benefits.benefit_roll_months, 0) as benefit_roll_months,
        -- incidents naming the member (警情, 信访, 网格事件, 12345)
        coalesce(member_incidents.incident_count, 0) as incident_count,
        coalesce(member_incidents.open_incident_count, 0) as open_incident_count,
        member_incidents.last_incident_date,
        -- visits received (countable ones: no repeats, desk-typed or after the person left)
        coalesce(member_visits.visit_count, 0) as visit_count,
        coalesce(member_visits.home_visit_count, 0) as home_visit_count,
        coalesce(member_visits.visits_finding_problems, 0) as visits_finding_problems,
        member_visits.last_visit_date,
        -- the household's totals
        coalesce(household_incidents.household_incident_count, 0) as household_incident_count,
        coalesce(household_visits.household_visit_count, 0) as household_visit_count,
        household_visits.household_last_visit_date,
        -- 三张清单 needs raised by the member, and the household's still open
        coalesce(member_needs.service_need_count, 0) as service_need_count,
        coalesce(member_needs.open_service_need_count, 0) as open_service_need_count,
        coalesce(household_needs.household_open_service_need_count, 0) as household_open_service_need_count,
        -- 积分 (the household's, where its points ledger household joined)
        coalesce(household_points.points_ledger_households, 0) as points_ledger_households,
        household_points.points_balance,
        household_stars.points_stars,
        household_stars.points_star_name_zh
    from members
    inner join households
        on members.household_key = households.household_key
    left join residents
        on members.person_key = residents.person_key
    left join member_benefits
        on members.person_key = member_benefits.person_key
    left join member_incidents
        on members.person_key = member_incidents.person_key
    left join member_visits
        on members.person_key = member_visits.person_key
    left join household_incidents
        on members.household_key = household_incidents.household_key
    left join household_visits
        on members.household_key = household_visits.household_key
    left join member_needs
        on members.person_key = member_needs.person_key
    left join household_needs
        on members.household_key = household_needs.household_key
    left join household_points
        on members.household_key = household_points.household_key
    left join household_stars
        on members.household_key = household_stars.household_key
)

select * from final
