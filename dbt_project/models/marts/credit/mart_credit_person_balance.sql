{#- One row per person (after linkage) named as the member of an entry (个人 items), as of the reporting
    date: the approved points they earned or lost. Redemptions are a household's, so a person's balance
    is what they earned; their household's balance is mart_credit_balance. -#}
with

entries as (
    select * from {{ ref('fct_credit_entry') }}
    where occurred_date <= {{ as_of_date() }}
        and member_person_key is not null
),

final as (
    select
        -- ids
        member_person_key as person_key,
        {{ zhili_arg_max_tuple('community_household_key', ['occurred_date', 'entry_id']) }} as community_household_key,
        {{ zhili_arg_max_tuple('community_code', ['occurred_date', 'entry_id']) }} as community_code,
        -- points
        cast(sum(points_counted) as bigint) as balance,
        cast(sum(case when is_approved and points > 0 then points else 0 end) as bigint) as points_added,
        cast(sum(case when is_approved and points < 0 then points else 0 end) as bigint) as points_deducted,
        count(*) filter (where is_approved) as entries_approved,
        max(occurred_date) as last_entry_date,
        cast({{ as_of_date() }} as date) as as_of_date
    from entries
    group by member_person_key
)

select * from final
