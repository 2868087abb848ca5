{#- One row per credit alert (mart_alerts rules credit_*) and entry (流水号) it rests on: the entry itself,
    for a repeat also the entry it repeats, for the monthly limit every entry of the subject, item and
    month. The alert keys are mart_alerts' (same rules, same keys). -#}
with

entries as (
    select * from {{ ref('fct_credit_entry') }}
    where occurred_date <= {{ as_of_date() }}
),

evidence as (
    select 'credit_member_departed|' || entry_id as alert_key, 'credit_member_departed' as rule, entry_id
    from entries where is_after_member_left
    union all
    select 'credit_item_invalid|' || entry_id, 'credit_item_invalid', entry_id
    from entries where is_outside_validity
    union all
    select 'credit_repeat_entry|' || entry_id, 'credit_repeat_entry', entry_id
    from entries where is_repeat_entry
    union all
    select 'credit_repeat_entry|' || entry_id, 'credit_repeat_entry', repeat_of_entry_id
    from entries where is_repeat_entry
    union all
    select
        'credit_over_limit|' || subject_key || '|' || item_code || '|' || {{ zhili_format_date('occurred_month', '%Y%m') }},
        'credit_over_limit',
        entry_id
    from entries
    where monthly_limit is not null and uses_in_month > monthly_limit
),

final as (
    select
        -- ids
        alert_key || '|' || entry_id as alert_evidence_key,
        alert_key,
        rule,
        entry_id
    from evidence
)

select * from final
