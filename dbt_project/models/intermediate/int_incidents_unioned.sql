{#- One row per incident from the three incident feeds (current versions),
    in one shape, before the taxonomy, status and time-limit rules.

    Incremental by incident (macros/hotline_incremental.sql): an incident's row is a function of its own
    versions in all files (and, for 12345, its replayed steps), recomputed whenever a new or withdrawn file
    carries it; the one column a dimension decides, the grid of a petition placed only by its community
    (from where its petitioners live), is recomputed for every such petition on every run. Nothing here
    depends on the as-of date (fct_incident judges overdue on top). -#}
{{ config(**zhili_incremental_config({
    'materialized': 'incremental',
    'incremental_strategy': 'delete+insert',
    'unique_key': 'incident_key',
    'on_schema_change': 'fail',
    'pre_hook': "{{ incidents_delete_touched() }}",
})) }}
with

police_incidents as (
    select * from {{ ref('stg_police_incidents') }}
    where {{ incident_touched(dbt.concat(["'police_incidents:'", 'incident_id'])) }}
),

petitions as (
    select * from {{ ref('stg_petitions') }}
    where {{ incident_touched(dbt.concat(["'petitions:'", 'case_id'])) }}
        or placement_method = 'community_name'
),

grid_events as (
    select * from {{ ref('stg_grid_events') }}
    where {{ incident_touched(dbt.concat(["'grid_events:'", 'event_id'])) }}
),

hotline_orders as (
    select * from {{ ref('int_hotline_orders_replayed') }}
    where {{ incident_touched(dbt.concat(["'hotline_orders:'", 'order_id'])) }}
),

petitioners as (
    select
        source_key as case_id,
        file_md5,
        record_no,
        person_key
    from {{ ref('int_persons_resolved') }}
    where feed = 'petitions' and role = 'petitioner'
),

residents as (
    select person_key, home_address_code, home_grid_code from {{ ref('int_residents_profiled') }}
),

grid_units as (
    select grid_code, community_code from {{ ref('stg_grid_units') }}
),

address_points as (
    select address_code, road, house_number, grid_code from {{ ref('stg_address_points') }}
),

-- the buildings in the named community at the house the problem address names (wtsd.dz is a road and
-- house number; its buildings lie in several grids, or it would have placed): a petitioner must live in
-- one of them; when the register knows no such house (dz absent or vague), there is nothing to check
problem_house_points as (
    select distinct
        petitions.case_id,
        address_points.address_code
    from petitions
    inner join address_points
        -- the canonical address cut after its house number (ingestion.addresses.house_key), which may
        -- still carry the street/community names before the road
        on {{ zhili_ends_with(
            "regexp_extract(petitions.problem_address_canonical, '^(.*?\\d+(?:-\\d+)?号(?:附\\d+)?)', 1)",
            'address_points.road || address_points.house_number'
        ) }}
    inner join grid_units
        on address_points.grid_code = grid_units.grid_code
        and grid_units.community_code = petitions.community_code
    where petitions.placement_method = 'community_name'
),

problem_houses as (
    select distinct case_id from problem_house_points
),

-- a case its problem address (wtsd.dz) could not place, with only its community named: where do the
-- petitioners on its current version live? (docs block fct_incident, "petitioner_home")
petitioner_homes as (
    select
        petitions.case_id,
        count(*) as petitioner_count,
        count(homes.grid_code) as housed_count,
        count(distinct homes.grid_code) as home_grid_count,
        min(homes.grid_code) as home_grid_code,
        bool_and(coalesce(homes.community_code = petitions.community_code, false)) as is_all_in_community,
        bool_and(problem_house_points.address_code is not null or problem_houses.case_id is null) as is_all_at_the_problem_house
    from petitions
    inner join petitioners
        on petitions.case_id = petitioners.case_id
        and petitions.file_md5 = petitioners.file_md5
        and petitions.record_no = petitioners.record_no
    left join residents
        on petitioners.person_key = residents.person_key
    left join grid_units as homes
        on residents.home_grid_code = homes.grid_code
    left join problem_houses
        on petitions.case_id = problem_houses.case_id
    left join problem_house_points
        on petitions.case_id = problem_house_points.case_id
        and residents.home_address_code = problem_house_points.address_code
    where petitions.placement_method = 'community_name'
    group by petitions.case_id
),

-- every petitioner a registered resident with a known address point, all in the named community, all in
-- one grid, and living at the problem's house (when the register knows it); anything less leaves the case
-- at community level, never guessed
placed_at_home as (
    select
        case_id,
        home_grid_code
    from petitioner_homes
    where housed_count = petitioner_count
        and home_grid_count = 1
        and is_all_in_community
        and is_all_at_the_problem_house
),

petitions_placed as (
    select
        {{ zhili_star_except(ref('stg_petitions'), ['grid_code', 'placement_method'], 'petitions') }},
        coalesce(petitions.grid_code, placed_at_home.home_grid_code) as grid_code,
        case
            when placed_at_home.case_id is not null then 'petitioner_home'
            else petitions.placement_method
        end as placement_method
    from petitions
    left join placed_at_home
        on petitions.case_id = placed_at_home.case_id
),

unioned as (
    select
        'police_incidents' as source_feed,
        incident_id as source_id,
        category as source_category,
        subcategory as source_subcategory,
        outcome as source_status,
        received_at,
        feedback_at as status_at,
        -- a call's outcome time is when it was dealt with
        feedback_at as source_closed_at,
        cast(null as date) as due_date,
        cast(null as {{ zhili_timestamptz() }}) as source_due_at,
        cast(null as {{ dbt.type_timestamp() }}) as accepted_at,
        -- 110 calls are handled by the police station, outside the 综治 levels
        cast(null as {{ dbt.type_string() }}) as handling_level,
        cast(null as {{ dbt.type_string() }}) as satisfaction,
        grid_code,
        community_code,
        street_code,
        placement_method,
        version_count,
        file_md5,
        record_no
    from police_incidents

    union all

    select
        'petitions' as source_feed,
        case_id as source_id,
        category_l1 as source_category,
        category_l2 as source_subcategory,
        status as source_status,
        registered_at as received_at,
        last_moved_at as status_at,
        coalesce(closed_at, last_moved_at) as source_closed_at,
        due_date,
        cast(null as {{ zhili_timestamptz() }}) as source_due_at,
        accepted_at,
        -- the responsible unit's level
        case
            when responsible_unit like '%社区%' or responsible_unit like '%村%' then '社区'
            when responsible_unit like '%街道%' or responsible_unit like '%镇%' or responsible_unit like '%乡%' then '街道'
            when responsible_unit like '%网格%' then '网格'
            when responsible_unit is not null then '区直部门'
        end as handling_level,
        satisfaction,
        grid_code,
        community_code,
        street_code,
        placement_method,
        version_count,
        file_md5,
        record_no
    from petitions_placed

    union all

    select
        'grid_events' as source_feed,
        event_id as source_id,
        category as source_category,
        subcategory as source_subcategory,
        status as source_status,
        reported_at as received_at,
        status_at,
        coalesce(resolved_at, status_at) as source_closed_at,
        cast(null as date) as due_date,
        cast(null as {{ zhili_timestamptz() }}) as source_due_at,
        cast(null as {{ dbt.type_timestamp() }}) as accepted_at,
        handling_level,
        satisfaction,
        grid_code,
        community_code,
        street_code,
        placement_method,
        version_count,
        file_md5,
        record_no
    from grid_events

    union all

    -- 12345 orders: status, close and the deadline in force come from the replayed lifecycle
    select
        'hotline_orders' as source_feed,
        order_id as source_id,
        category_l1 as source_category,
        category_l2 as source_subcategory,
        status as source_status,
        called_at as received_at,
        updated_at as status_at,
        closed_at as source_closed_at,
        cast(null as date) as due_date,
        due_at as source_due_at,
        first_dispatched_at as accepted_at,
        {{ hotline_unit_level('last_unit') }} as handling_level,
        satisfaction,
        grid_code,
        community_code,
        street_code,
        placement_method,
        version_count,
        file_md5,
        record_no
    from hotline_orders
),

final as (
    select
        {{ dbt.concat(['source_feed', "':'", 'source_id']) }} as incident_key,
        *
    from unioned
)

select * from final
