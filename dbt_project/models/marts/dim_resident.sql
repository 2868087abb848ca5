with

residents as (
    select * from {{ ref('int_residents_profiled') }}
),

final as (
    select
        -- ids
        person_key,
        -- display forms (masked; never join on them)
        name_masked,
        id_masked,
        phone_masked,
        -- demographics
        sex,
        birth_date,
        age_years,
        ethnicity,
        population_type,
        -- where
        current_grid_code as grid_code,
        grid_code as placed_grid_code,
        -- police register
        is_in_police_register,
        police_person_status,
        -- tags
        is_low_income,
        is_extreme_poverty,
        is_aged_allowance,
        is_disabled,
        disability_category,
        disability_grade,
        is_living_alone,
        is_empty_nest,
        is_petitioner,
        is_in_police_incident,
        is_in_grid_event,
        -- when
        record_count,
        first_seen_at,
        last_seen_at
    from residents
)

select * from final
