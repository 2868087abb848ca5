{#- One row per redemption (兑换单号) at the 爱心超市, in its latest delivery. -#}
with

source as (
    select * from {{ source('normalised', 'credit_points') }}
    where record_kind = 'redemption' and redemption_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'redemption_id', 'data_date') }}
),

final as (
    select
        -- ids
        redemption_id,
        community_household_key,
        head_person_key,
        -- the redemption
        redeemed_date,
        cast(date_trunc('month', redeemed_date) as date) as redeemed_month,
        household_community_code as community_code,
        goods,
        points_used,
        redemption_point,
        head_id_status,
        head_id_masked,
        head_name_masked,
        -- provenance
        {{ record_locator() }} as record_locator,
        delivered_date,
        data_date,
        feed,
        file,
        file_md5,
        sheet,
        record_no
    from current_version
)

select * from final
