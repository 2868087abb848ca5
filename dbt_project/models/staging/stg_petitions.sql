{#- One row per case: the current version (docs block latest_wins). -#}
with

source as (
    select * from {{ source('normalised', 'petitions') }}
    where case_id is not null
),

files as (
    {{ files_delivered() }}
),

first_seen as (
    select
        case_id,
        min(data_date) as first_data_date
    from source
    group by case_id
),

current_version as (
    {{ latest_wins('source', 'files', 'case_id', 'last_moved_at') }}
),

final as (
    select
        -- ids
        current_version.case_id,
        -- case
        current_version.registered_at,
        current_version.channel,
        current_version.petitioner_count,
        current_version.petitioners_listed,
        current_version.is_collective,
        current_version.category,
        current_version.category_l1,
        current_version.category_l2,
        current_version.responsible_unit,
        current_version.clerk_repeat_flag as is_clerk_marked_repeat,
        -- handling
        current_version.status,
        current_version.accepted_at,
        current_version.last_moved_at,
        current_version.due_date,
        coalesce(current_version.is_extended, false) as is_extended,
        current_version.closed_at,
        current_version.satisfaction,
        -- where the problem is
        current_version.problem_street,
        current_version.problem_community,
        current_version.address_canonical as problem_address_canonical,
        {{ placement_columns('current_version') }}
        -- provenance of the current version
        current_version.version_count,
        first_seen.first_data_date,
        current_version.delivered_date,
        current_version.data_date,
        {{ locator_columns('current_version', exclude=['member_no'], last_comma=false) }}
    from current_version
    left join first_seen
        on current_version.case_id = first_seen.case_id
)

select * from final
