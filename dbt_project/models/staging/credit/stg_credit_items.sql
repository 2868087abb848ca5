{#- One row per item version (项目编码 + 启用月份) as the latest month's list states it: a later month's list
    supersedes an earlier one's row for the same version (credit_points.md). valid_to_month is the end the
    list states (停用月份, exclusive), else the next version's start: a revised 分值 from a month is a new
    version, and the old one stops there. An item retired in a month still appears on that month's list
    with 停用月份 = that month, so it is valid before it and not in it. -#}
with

source as (
    select
        *,
        item_code || '@' || {{ zhili_format_date('valid_from_month', '%Y%m') }} as item_version_id
    from {{ source('normalised', 'credit_points') }}
    where record_kind = 'item' and item_code is not null and valid_from_month is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'item_version_id', 'data_date') }}
),

bounded as (
    select
        *,
        lead(valid_from_month) over (partition by item_code order by valid_from_month) as next_version_from
    from current_version
),

final as (
    select
        -- ids
        item_version_id,
        item_code,
        -- the item
        item_name,
        item_category,
        points as item_points,
        scored_on,
        monthly_limit,
        -- validity [valid_from_month, valid_to_month)
        valid_from_month,
        valid_to_month as stated_valid_to_month,
        case
            when valid_to_month is null then next_version_from
            when next_version_from is null then valid_to_month
            else least(valid_to_month, next_version_from)
        end as valid_to_month,
        data_date as listed_month,
        -- provenance
        {{ record_locator() }} as record_locator,
        delivered_date,
        data_date,
        feed,
        file,
        file_md5,
        record_no
    from bounded
)

select * from final
