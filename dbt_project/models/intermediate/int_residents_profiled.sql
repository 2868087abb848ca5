{#- One row per person (person_key): the 一人一档 profile behind dim_resident.
    Display forms and demographics come from the current police register row
    when the person is in it, else from the person's latest record. Benefit
    tags hold when the person is on the latest roll of that programme (the
    latest month in which the programme's sheet was delivered). -#}
with

records as (
    select * from {{ ref('int_persons_resolved') }}
    where person_key is not null
),

-- a register or roll row belongs to its resolved person (int_persons_resolved: valid IDs and, once
-- linkage has run, damaged, typo'd, foreign and missing IDs too), not only to its own valid-ID key
-- (a locator starts with its feed, so each join reads only its own feed's records)
resolved_register as (
    select record_locator, person_key from records where feed = 'police_population'
),

resolved_rolls as (
    select record_locator, person_key from records where feed = 'civil_affairs'
),

register as (
    select
        coalesce(resolved_register.person_key, register_rows.person_key) as person_key,
        register_rows.source_person_id,
        register_rows.name_masked,
        register_rows.id_masked,
        register_rows.phone_masked,
        register_rows.sex,
        register_rows.birth_date,
        register_rows.ethnicity,
        register_rows.population_type,
        register_rows.person_status,
        register_rows.is_registered,
        register_rows.registered_date,
        register_rows.grid_code,
        register_rows.address_code
    from {{ ref('stg_police_population') }} as register_rows
    left join resolved_register
        -- a week's row is its version's person record (the register's records are at the version's grain)
        on resolved_register.record_locator = register_rows.version_record_locator
    where coalesce(resolved_register.person_key, register_rows.person_key) is not null
),

rolls as (
    select
        coalesce(resolved_rolls.person_key, roll_rows.person_key) as person_key,
        roll_rows.programme,
        roll_rows.month_date,
        roll_rows.disability_category,
        roll_rows.disability_grade,
        roll_rows.elderly_type
    from {{ ref('stg_civil_affairs') }} as roll_rows
    left join resolved_rolls
        on roll_rows.record_locator = resolved_rolls.record_locator
),

rolled_forward as (
    select * from {{ ref('int_grids_rolled_forward') }}
),

-- the register has duplicates (one person under two 人员编号): prefer 在册, then the latest registration
register_ranked as (
    select
        register.*,
        row_number() over (
            partition by person_key
            order by
                case when is_registered then 0 else 1 end,
                registered_date desc nulls last,
                source_person_id nulls last
        ) as register_rank
    from register
),

register_current as (
    select * from register_ranked where register_rank = 1
),

-- where a registered person lives now: the grid their address point belongs to in the latest grid
-- register, not their record's grid rolled forward (a split grid's merged_into names only its largest
-- successor; a building may have moved between grids since the register placed it)
address_points as (
    select address_code, grid_code from {{ ref('stg_address_points') }}
),

register_point_grid as (
    select
        register_current.person_key,
        address_points.address_code,
        address_points.grid_code
    from register_current
    inner join address_points
        on register_current.address_code = address_points.address_code
),

-- one pass over a person's records (a year of weekly register snapshots is ~50 per resident): when they
-- were seen, their latest record's display forms and their latest placed record's grid (latest = the
-- greatest record_at, then data_date, then record_locator, which is unique)
seen as (
    select
        person_key,
        min(record_at) as first_seen_at,
        max(record_at) as last_seen_at,
        count(*) as record_count,
        {{ zhili_arg_max_tuple(
            zhili_struct(['name_masked', 'id_masked', 'phone_masked', 'sex', 'birth_date']),
            ['record_at', 'data_date', 'record_locator']
        ) }} as latest_record,
        -- arg_max skips null values: the latest record that has a grid
        {{ zhili_arg_max_tuple('grid_code', ['record_at', 'data_date', 'record_locator']) }} as latest_grid_code,
        max(case when role = 'petitioner' then 1 else 0 end) = 1 as is_petitioner,
        max(case when role = 'caller' then 1 else 0 end) = 1 as is_in_police_incident,
        max(case when role = 'involved' then 1 else 0 end) = 1 as is_in_grid_event
    from records
    group by person_key
),

latest_roll_month as (
    select
        programme,
        max(month_date) as month_date
    from rolls
    group by programme
),

on_latest_roll as (
    select rolls.*
    from rolls
    inner join latest_roll_month
        on rolls.programme = latest_roll_month.programme
        and rolls.month_date = latest_roll_month.month_date
    where rolls.person_key is not null
),

benefits as (
    select
        person_key,
        max(case when programme = 'low_income' then 1 else 0 end) = 1 as is_low_income,
        max(case when programme = 'extreme_poverty' then 1 else 0 end) = 1 as is_extreme_poverty,
        max(case when programme = 'aged_allowance' then 1 else 0 end) = 1 as is_aged_allowance,
        max(case when programme = 'disability_subsidy' then 1 else 0 end) = 1 as is_disabled,
        max(case when programme = 'disability_subsidy' then disability_category end) as disability_category,
        max(case when programme = 'disability_subsidy' then disability_grade end) as disability_grade,
        max(case when programme = 'elderly_alone' and elderly_type = '独居' then 1 else 0 end) = 1 as is_living_alone,
        max(case when programme = 'elderly_alone' and elderly_type = '空巢' then 1 else 0 end) = 1 as is_empty_nest,
        max(case when programme = 'elderly_alone' and elderly_type = '留守' then 1 else 0 end) = 1 as is_left_behind
    from on_latest_roll
    group by person_key
),

profiled as (
    select
        -- ids
        seen.person_key,
        -- display forms (masked)
        coalesce(register_current.name_masked, seen.latest_record.name_masked) as name_masked,
        coalesce(register_current.id_masked, seen.latest_record.id_masked) as id_masked,
        coalesce(register_current.phone_masked, seen.latest_record.phone_masked) as phone_masked,
        -- demographics
        coalesce(register_current.sex, seen.latest_record.sex) as sex,
        coalesce(register_current.birth_date, seen.latest_record.birth_date) as birth_date,
        register_current.ethnicity,
        register_current.population_type,
        register_current.person_status as police_person_status,
        coalesce(register_current.is_registered, false) as is_in_police_register,
        -- where
        coalesce(register_current.grid_code, seen.latest_grid_code) as grid_code,
        -- tags
        coalesce(benefits.is_low_income, false) as is_low_income,
        coalesce(benefits.is_extreme_poverty, false) as is_extreme_poverty,
        coalesce(benefits.is_aged_allowance, false) as is_aged_allowance,
        coalesce(benefits.is_disabled, false) as is_disabled,
        benefits.disability_category,
        benefits.disability_grade,
        coalesce(benefits.is_living_alone, false) as is_living_alone,
        coalesce(benefits.is_empty_nest, false) as is_empty_nest,
        coalesce(benefits.is_left_behind, false) as is_left_behind,
        seen.is_petitioner,
        seen.is_in_police_incident,
        seen.is_in_grid_event,
        -- when
        seen.record_count,
        seen.first_seen_at,
        seen.last_seen_at
    from seen
    left join register_current
        on seen.person_key = register_current.person_key
    left join benefits
        on seen.person_key = benefits.person_key
),

final as (
    select
        profiled.*,
        coalesce(
            point_rolled_forward.current_grid_code,
            register_point_grid.grid_code,
            rolled_forward.current_grid_code,
            profiled.grid_code
        ) as current_grid_code,
        -- where a registered (在册) resident lives now by their address point alone; null when either is
        -- unknown (the evidence petitions' petitioner_home placement may use, never a record's grid)
        case when profiled.is_in_police_register then register_point_grid.address_code end as home_address_code,
        case when profiled.is_in_police_register then
            coalesce(point_rolled_forward.current_grid_code, register_point_grid.grid_code)
        end as home_grid_code,
        cast(
            extract(year from {{ as_of_date() }}) - extract(year from profiled.birth_date)
            - case
                when extract(month from {{ as_of_date() }}) * 100 + extract(day from {{ as_of_date() }})
                    < extract(month from profiled.birth_date) * 100 + extract(day from profiled.birth_date)
                    then 1
                else 0
            end
        as integer) as age_years
    from profiled
    left join rolled_forward
        on profiled.grid_code = rolled_forward.grid_code
    left join register_point_grid
        on profiled.person_key = register_point_grid.person_key
    left join rolled_forward as point_rolled_forward
        on register_point_grid.grid_code = point_rolled_forward.grid_code
)

select * from final
