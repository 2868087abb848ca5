{#- One row per membership spell of a person in a 户籍 household, with its validity interval. household_key is
    the household followed across its 户号 (int_household_lineage: a household that moved keeps its key);
    register_household_key the 户号 the register listed the member under in this spell. -#}
with

spells as (
    select * from {{ ref('int_household_memberships_spanned') }}
),

lineage as (
    select * from {{ ref('int_household_lineage') }}
),

final as (
    select
        -- ids
        spells.membership_key,
        lineage.household_key,
        spells.member_id,
        spells.person_key,
        spells.household_key as register_household_key,
        -- the member
        spells.relation_to_head,
        spells.is_relation_known,
        spells.is_head,
        -- dates
        spells.valid_from,
        spells.valid_to,
        spells.last_listed_date,
        spells.is_current
    from spells
    inner join lineage
        on spells.household_key = lineage.register_household_key
)

select * from final
