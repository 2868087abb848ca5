{#- 重点人群: residents per current grid and tag. Residents not placed in any
    grid are counted under a null grid_code, so the totals add up. -#}
with

residents as (
    select * from {{ ref('dim_resident') }}
),

tags as (
    select * from {{ ref('key_population_tags') }}
),

tagged as (
    {%- set tag_columns = {
        'low_income': 'is_low_income',
        'extreme_poverty': 'is_extreme_poverty',
        'aged_allowance': 'is_aged_allowance',
        'disabled': 'is_disabled',
        'living_alone': 'is_living_alone',
        'empty_nest': 'is_empty_nest',
        'petitioner': 'is_petitioner',
    } %}
    {%- for tag_code, column in tag_columns.items() %}
    select
        grid_code,
        '{{ tag_code }}' as tag_code,
        person_key,
        age_years
    from residents
    where {{ column }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

counted as (
    select
        grid_code,
        tag_code,
        cast(count(*) as {{ dbt.type_bigint() }}) as resident_count,
        cast(sum(case when age_years >= 80 then 1 else 0 end) as {{ dbt.type_bigint() }}) as aged_80_plus_count
    from tagged
    group by grid_code, tag_code
),

final as (
    select
        -- ids
        {{ dbt.concat(["coalesce(counted.grid_code, 'unplaced')", "'|'", 'counted.tag_code']) }} as grid_tag_key,
        counted.grid_code,
        counted.tag_code,
        tags.tag_name_zh,
        tags.tag_name_en,
        -- counts
        counted.resident_count,
        counted.aged_80_plus_count
    from counted
    left join tags
        on counted.tag_code = tags.tag_code
)

select * from final
