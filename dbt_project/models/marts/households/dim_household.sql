{#- One row per 户籍 household (户号, as its keyed household_key): who is in it now, its head, since when it
    is known, where it lives and what its members receive. The household file (一户一档) starts here;
    bridge_household_member holds the members over time. -#}
with

spells as (
    select * from {{ ref('int_household_memberships_spanned') }}
),

residents as (
    select * from {{ ref('int_residents_profiled') }}
),

current_members as (
    select
        spells.household_key,
        spells.member_id,
        spells.is_head,
        spells.person_key,
        residents.current_grid_code,
        residents.age_years,
        coalesce(residents.is_low_income or residents.is_extreme_poverty or residents.is_aged_allowance
            or residents.is_disabled or residents.is_living_alone or residents.is_empty_nest
            or residents.is_left_behind, false) as is_on_a_roll,
    from spells
    left join residents
        on spells.person_key = residents.person_key
    where spells.is_current
),

now as (
    select
        household_key,
        count(distinct member_id) as member_count,
        min(case when is_head then person_key end) as head_person_key,
        count(distinct case when is_head then member_id end) as head_count,
        -- where the household lives: its head's grid, else its members' most common one
        min(case when is_head then current_grid_code end) as head_grid_code,
        mode(current_grid_code) as members_grid_code,
        count(distinct case when age_years >= 60 then member_id end) as members_60_plus,
        count(distinct case when is_on_a_roll then member_id end) as members_on_benefit_rolls,
    from current_members
    group by household_key
),

history as (
    select
        household_key,
        arg_max(household_no_masked, last_listed_date) as household_no_masked,
        count(distinct member_id) as members_ever,
        min(valid_from) as first_seen_date,
        max(last_listed_date) as last_listed_date,
        bool_or(is_current) as is_current,
    from spells
    group by household_key
),

final as (
    select
        -- ids
        history.household_key,
        history.household_no_masked,
        now.head_person_key,
        -- members
        coalesce(now.member_count, 0) as member_count,
        history.members_ever,
        coalesce(now.head_count, 0) = 1 as has_one_head,
        coalesce(now.members_60_plus, 0) as members_60_plus,
        coalesce(now.members_on_benefit_rolls, 0) as members_on_benefit_rolls,
        -- where
        coalesce(now.head_grid_code, now.members_grid_code) as grid_code,
        -- dates
        history.first_seen_date,
        history.last_listed_date,
        history.is_current,
    from history
    left join now
        on history.household_key = now.household_key
)

select * from final
