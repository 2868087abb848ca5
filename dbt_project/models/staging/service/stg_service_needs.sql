{#- One row per need (需求编号): the version with the latest 状态时间, on a tie the later delivery
    (service_lists.md). The need's community is the 12 digits its key carries (XQ + community + date +
    sequence), so a need whose address cannot be placed still counts in its community. -#}
with

source as (
    select * from {{ source('normalised', 'service_lists') }}
    where list_kind = 'need' and need_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'need_id', 'status_at') }}
),

final as (
    select
        -- ids
        need_id,
        person_key,
        taken_by_resource_id as resource_id,
        in_project_id as project_id,
        -- the need
        posted_at,
        {{ zhili_local_date('posted_at') }} as posted_date,
        channel,
        category,
        coalesce(is_wish, false) as is_wish,
        description_chars,
        -- its course
        status,
        status_at,
        dispatched_at,
        accepted_at,
        closed_at,
        satisfaction,
        version_count,
        -- the resident (masked display forms only)
        id_status,
        id_masked,
        name_masked,
        -- where
        case when {{ zhili_regexp_matches('need_id', "'^XQ[0-9]{23}$'") }} then substr(need_id, 3, 12) end as keyed_community_code,
        grid_code_reported,
        address_code,
        grid_code,
        community_code,
        street_code,
        placement_method,
        -- provenance
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
