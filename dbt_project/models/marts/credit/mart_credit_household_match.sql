{#- One row per ledger household (户编号, keyed) and the register household (户号, dim_household) it was joined
    to through the people in it, or why it was not. The ledger names a household's head (户主证件号码) on
    every entry and redemption and the member on 个人 entries; after linkage these are person keys, and
    bridge_household_member says which 户号 household each register person is in. Tried in order:
    the head is the head of a register household (head_is_register_head); the head is in one
    (head_in_register_household); a member is (member_in_register_household, the household most of the
    named members are in). Reasons for the rest: register_has_no_households (the register exported no
    户号 in the period), head_not_keyed (no usable ID for the head, and no member in a household),
    head_not_in_register (the head is not a register person), no_register_household (the head is in the
    register but in no 户号 household: a migrant without a local 户口簿). -#}
with

entries as (
    select community_household_key, community_code, head_person_key, member_person_key, occurred_date as seen_date
    from {{ ref('fct_credit_entry') }}
),

redemptions as (
    select community_household_key, community_code, head_person_key,
        cast(null as string) as member_person_key,
        redeemed_date as seen_date
    from {{ ref('fct_credit_redemption') }}
),

named as (
    select * from entries
    union all
    select * from redemptions
),

ledger as (
    select
        community_household_key,
        -- ties (two names on one day, a household heading two 户号) broken by the key itself: the same answer
        -- whatever order the rows come in, in a full build and an incremental one
        min(community_code) as community_code,
        {{ zhili_arg_max_tuple('head_person_key', ['seen_date', 'head_person_key']) }}
            filter (where head_person_key is not null)
            as head_person_key,
        count(distinct member_person_key) as members_keyed
    from named
    group by community_household_key
),

members as (
    select * from {{ ref('bridge_household_member') }}
    where person_key is not null
),

register_persons as (
    select person_key from {{ ref('dim_resident') }} where is_in_police_register
),

by_head as (
    select
        ledger.community_household_key,
        {{ zhili_arg_max_tuple('members.household_key', [
            'cast(members.is_head as int) * 10 + cast(members.is_current as int)', 'members.household_key'
        ]) }} as household_key,
        bool_or(members.is_head) as is_register_head
    from ledger
    inner join members
        on ledger.head_person_key = members.person_key
    group by ledger.community_household_key
),

by_member as (
    select
        community_household_key,
        {{ zhili_arg_max_tuple('household_key', ['member_count', 'household_key']) }} as household_key,
        max(member_count) as members_matched
    from (
        select
            named.community_household_key,
            members.household_key,
            count(distinct named.member_person_key) as member_count
        from named
        inner join members
            on named.member_person_key = members.person_key
        group by named.community_household_key, members.household_key
    ) as votes
    group by community_household_key
),

register_size as (
    select count(distinct household_key) as households from members
),

final as (
    select
        -- ids
        ledger.community_household_key,
        ledger.community_code,
        ledger.head_person_key,
        coalesce(by_head.household_key, by_member.household_key) as household_key,
        -- how
        coalesce(by_head.household_key, by_member.household_key) is not null as is_matched,
        case
            when by_head.is_register_head then 'head_is_register_head'
            when by_head.household_key is not null then 'head_in_register_household'
            when by_member.household_key is not null then 'member_in_register_household'
        end as match_method,
        case
            when coalesce(by_head.household_key, by_member.household_key) is not null then null
            when register_size.households = 0 then 'register_has_no_households'
            when ledger.head_person_key is null then 'head_not_keyed'
            when register_persons.person_key is null then 'head_not_in_register'
            else 'no_register_household'
        end as unmatched_reason,
        ledger.members_keyed,
        coalesce(by_member.members_matched, 0) as members_matched
    from ledger
    cross join register_size
    left join by_head
        on ledger.community_household_key = by_head.community_household_key
    left join by_member
        on ledger.community_household_key = by_member.community_household_key
    left join register_persons
        on ledger.head_person_key = register_persons.person_key
)

select * from final
