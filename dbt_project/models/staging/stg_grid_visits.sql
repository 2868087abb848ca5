{#- One row per visit (走访编号). A visit is never updated (grid_visits.md); the same key delivered again
    (a resend under another file) keeps its latest delivery (latest_wins with the visit time as the
    "status" time: equal for every copy). A visit submitted twice has two keys and stays two rows here:
    fct_visit says which one repeats which. -#}
with

source as (
    select * from {{ source('normalised', 'grid_visits') }}
    where visit_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'visit_id', 'visited_at') }}
),

final as (
    select
        -- ids
        visit_id,
        worker_id,
        person_key,
        community_household_key,
        -- the visit
        visited_at,
        {{ zhili_local_date('visited_at') }} as visited_date,
        subject_type,
        visit_mode,
        theme,
        has_problem,
        event_id,
        grid_code_reported,
        -- the person visited (masked display forms only)
        id_status,
        id_masked,
        name_masked,
        -- the phone's position when submitted
        lon,
        lat,
        coordinate_status,
        -- placement (by the visited address)
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
