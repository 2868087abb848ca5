{#- One row per membership spell of a person in a 户籍 household (户号), with its validity interval. -#}
with

spells as (
    select * from {{ ref('int_household_memberships_spanned') }}
),

final as (
    select
        -- ids
        membership_key,
        household_key,
        member_id,
        person_key,
        -- the member
        relation_to_head,
        is_relation_known,
        is_head,
        -- dates
        valid_from,
        valid_to,
        last_listed_date,
        is_current,
    from spells
)

select * from final
