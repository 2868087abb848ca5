{#- One row per 户籍 household, followed across its 户号 (int_household_lineage: a household that moved to a
    new number is one household keyed by the number it was first seen with; one that split off is its own,
    with split_from_household_key): who is in it now, its head, since when it is known, where it lives and
    what its members receive. The household file (一户一档) starts here; bridge_household_member holds the
    members over time. -#}
with

lineage as (
    select * from {{ ref('int_household_lineage') }}
),

spells as (
    select
        lineage.household_key,
        {{ zhili_star_except(ref('int_household_memberships_spanned'), ['household_key'], 'spells') }}
    from {{ ref('int_household_memberships_spanned') }} as spells
    inner join lineage
        on spells.household_key = lineage.register_household_key
),

changes as (
    select
        household_key,
        count(distinct register_household_key) as household_numbers,
        max(case when change_kind = 'move' then changed_date end) as last_moved_date,
        max(case when change_kind = 'split' then parent_household_key end) as split_from_household_key,
        max(case when change_kind = 'split' then changed_date end) as split_date
    from lineage
    group by household_key
),

splits_off as (
    select parent_household_key as household_key, count(*) as households_split_off
    from lineage
    where change_kind = 'split'
    group by parent_household_key
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
            or residents.is_left_behind, false) as is_on_a_roll
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
        {{ zhili_mode('current_grid_code') }} as members_grid_code,
        count(distinct case when age_years >= 60 then member_id end) as members_60_plus,
        count(distinct case when is_on_a_roll then member_id end) as members_on_benefit_rolls
    from current_members
    group by household_key
),

history as (
    select
        household_key,
        -- the number last listed; between numbers listed to the same day (a move's last week), the greater
        {{ zhili_arg_max_tuple('household_no_masked', ['last_listed_date', 'household_no_masked']) }}
            as household_no_masked,
        count(distinct member_id) as members_ever,
        min(valid_from) as first_seen_date,
        max(last_listed_date) as last_listed_date,
        bool_or(is_current) as is_current
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
        -- followed, not duplicated
        changes.household_numbers,
        changes.last_moved_date,
        changes.split_from_household_key,
        changes.split_date,
        coalesce(splits_off.households_split_off, 0) as households_split_off
    from history
    left join now
        on history.household_key = now.household_key
    left join changes
        on history.household_key = changes.household_key
    left join splits_off
        on history.household_key = splits_off.household_key
)

select * from final
