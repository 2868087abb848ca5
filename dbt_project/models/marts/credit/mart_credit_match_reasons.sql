{#- How many of the points ledger's households (户编号) were joined to a register household (户号) and why the
    rest were not: one row per outcome of mart_credit_household_match, a match method for the joined
    (head_is_register_head, head_in_register_household, member_in_register_household) and an unmatched reason
    for the rest (register_has_no_households, head_not_keyed, head_not_in_register, no_register_household),
    with its households and their share of the ledger's. Aggregates only. -#}
with

matches as (
    select * from {{ ref('mart_credit_household_match') }}
),

outcomes as (
    select
        coalesce(match_method, unmatched_reason) as outcome,
        is_matched,
        count(*) as ledger_households
    from matches
    group by coalesce(match_method, unmatched_reason), is_matched
),

final as (
    select
        outcome,
        is_matched,
        ledger_households,
        cast(ledger_households as double) / sum(ledger_households) over () as share_of_ledger
    from outcomes
)

select * from final
