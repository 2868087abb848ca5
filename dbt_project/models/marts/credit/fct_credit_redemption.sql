{#- One row per redemption (兑换单号) at the 爱心超市: the household, its head after linkage, the points used. -#}
with

-- only the points ledger's records can match its locators (fct_credit_entry)
resolved as (
    select record_locator, person_key from {{ ref('int_persons_resolved') }}
    where feed = 'credit_points'
),

final as (
    select
        -- ids
        staged.redemption_id,
        staged.community_household_key,
        heads.person_key as head_person_key,
        -- the redemption
        staged.redeemed_date,
        staged.redeemed_month,
        staged.community_code,
        staged.goods,
        staged.points_used,
        staged.redemption_point,
        staged.head_id_status,
        staged.head_id_masked,
        staged.head_name_masked,
        -- provenance
        staged.record_locator,
        staged.delivered_date,
        staged.file,
        staged.record_no
    from {{ ref('stg_credit_redemptions') }} as staged
    left join resolved as heads
        on staged.record_locator = heads.record_locator
)

select * from final
