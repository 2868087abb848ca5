{#- One row per 户号 the register has listed (register_household_key): the household it belongs to
    (household_key) and how that number came to be.

    A household is followed, not duplicated: when a 户号 first appears after the first household snapshot,
    its founding members' previous 户号 (the one most of them were listed in the snapshot before) is its
    parent. If the parent is listed in no later snapshot and the new number took at least half of the parent's
    members, the household moved (户口迁移: the receiving station issued a new 户号) and the new number
    continues the parent's household. Otherwise a member founded a new household (分户): a household of its
    own, split from the parent. A household that moves twice stays one household (recursive). The household
    is keyed by the first 户号 it was seen with, so its key never changes. -#}
with recursive

spells as (
    select * from {{ ref('int_household_memberships_spanned') }}
),

snapshots as (
    select snapshot_date, previous_snapshot_date from {{ ref('int_household_snapshots') }}
),

numbers as (
    select
        household_key as register_household_key,
        min(valid_from) as first_seen_date,
        max(last_listed_date) as last_listed_date
    from spells
    group by household_key
),

-- a member's spell in a new number and the spell it followed (same member, ended the day the new one began)
carried as (
    select
        numbers.register_household_key,
        numbers.first_seen_date,
        previous.household_key as previous_register_household_key,
        spells.member_id
    from numbers
    inner join spells
        on numbers.register_household_key = spells.household_key
        and spells.valid_from = numbers.first_seen_date
    inner join spells as previous
        on spells.member_id = previous.member_id
        and previous.valid_to = spells.valid_from
        and previous.household_key <> spells.household_key
    where numbers.first_seen_date > (select min(snapshot_date) from snapshots)
),

parents as (
    select
        register_household_key,
        first_seen_date,
        -- the number most of them came from; the least of equally many, not the first met
        {{ zhili_mode('previous_register_household_key') }} as parent_register_household_key
    from carried
    group by register_household_key, first_seen_date
),

parent_counts as (
    select
        parents.register_household_key,
        parents.parent_register_household_key,
        parents.first_seen_date,
        count(distinct case
            when carried.previous_register_household_key = parents.parent_register_household_key
                then carried.member_id
        end) as members_carried
    from parents
    inner join carried
        on parents.register_household_key = carried.register_household_key
    group by parents.register_household_key, parents.parent_register_household_key, parents.first_seen_date
),

-- the parent's members in the snapshot before the new number appeared
parent_before as (
    select
        parent_counts.register_household_key,
        count(distinct spells.member_id) as parent_members_before
    from parent_counts
    inner join snapshots
        on parent_counts.first_seen_date = snapshots.snapshot_date
    inner join spells
        on spells.household_key = parent_counts.parent_register_household_key
        and spells.valid_from <= snapshots.previous_snapshot_date
        and spells.last_listed_date >= snapshots.previous_snapshot_date
    group by parent_counts.register_household_key
),

changes as (
    select
        parent_counts.register_household_key,
        parent_counts.parent_register_household_key,
        parent_counts.first_seen_date as changed_date,
        parent_counts.members_carried,
        case
            when parent_numbers.last_listed_date < parent_counts.first_seen_date
                and 2 * parent_counts.members_carried >= coalesce(parent_before.parent_members_before, 0)
                then 'move'
            else 'split'
        end as change_kind
    from parent_counts
    inner join numbers as parent_numbers
        on parent_counts.parent_register_household_key = parent_numbers.register_household_key
    left join parent_before
        on parent_counts.register_household_key = parent_before.register_household_key
),

-- a number continues its parent's household across moves; everything else roots a household
households (register_household_key, household_key, depth) as (
    select numbers.register_household_key, numbers.register_household_key, 0
    from numbers
    left join changes
        on numbers.register_household_key = changes.register_household_key
        and changes.change_kind = 'move'
    where changes.register_household_key is null
    union all
    select changes.register_household_key, households.household_key, households.depth + 1
    from households
    inner join changes
        on changes.parent_register_household_key = households.register_household_key
        and changes.change_kind = 'move'
    where households.depth < 100
),

final as (
    select
        -- ids
        numbers.register_household_key,
        households.household_key,
        changes.parent_register_household_key,
        parent_households.household_key as parent_household_key,
        -- the change that brought the number
        changes.change_kind,
        changes.changed_date,
        changes.members_carried,
        -- dates
        numbers.first_seen_date,
        numbers.last_listed_date
    from numbers
    inner join households
        on numbers.register_household_key = households.register_household_key
    left join changes
        on numbers.register_household_key = changes.register_household_key
    left join households as parent_households
        on changes.parent_register_household_key = parent_households.register_household_key
)

select * from final
