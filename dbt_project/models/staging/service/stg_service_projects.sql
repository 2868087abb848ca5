{#- One row per project (项目编号): the version with the latest 状态时间, on a tie the later delivery. -#}
with

source as (
    select * from {{ source('normalised', 'service_lists') }}
    where list_kind = 'project' and project_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'project_id', 'status_at') }}
),

final as (
    select
        project_id,
        project_name,
        category,
        lead_resource_id,
        need_ids,
        resource_ids,
        started_date,
        planned_date,
        completed_date,
        status,
        status_at,
        beneficiaries,
        funds,
        version_count,
        substr(project_id, 3, 12) as community_code,
        {{ record_locator() }} as record_locator,
        delivered_date,
        data_date,
        feed,
        file,
        file_md5,
        record_no
    from current_version
)

select * from final
