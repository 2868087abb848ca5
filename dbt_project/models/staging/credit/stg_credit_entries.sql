{#- One row per points entry (流水号) in its latest version: a corrected entry comes back in a later month's
    workbook under the same 流水号 with a later 审核时间, and the latest wins (credit_points.md). Whether it
    counts (已审核), waits (待审核) or is cancelled (已驳回) is the latest version's 审核状态. -#}
with

source as (
    select * from {{ source('normalised', 'credit_points') }}
    where record_kind = 'entry' and entry_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'entry_id', 'reviewed_at') }}
),

final as (
    select
        -- ids
        entry_id,
        community_household_key,
        head_person_key,
        member_person_key,
        item_code,
        -- the deed
        occurred_date,
        cast(date_trunc('month', occurred_date) as date) as occurred_month,
        household_community_code as community_code,
        points,
        reason_chars,
        has_proof,
        reviewer_name_masked,
        review_status,
        reviewed_at,
        review_status = '已审核' as is_approved,
        -- who (masked display forms only)
        head_id_status,
        head_id_masked,
        head_name_masked,
        member_id_status,
        member_id_masked,
        member_name_masked,
        version_count,
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
