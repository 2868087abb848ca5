{#- Each grid with the active grid that holds its area today: follow
    merged_into from a retired grid until an active one (a split names its
    largest successor). Fixed-depth joins instead of a recursive CTE keep it
    portable; chains longer than the depth (or cycles) give no successor. -#}
{%- set max_depth = 8 -%}
with

grids as (
    select
        grid_code,
        merged_into,
        valid_to_date is null or valid_to_date > {{ as_of_date() }} as is_active
    from {{ ref('stg_grid_units') }}
),

chain as (
    select
        g0.grid_code,
        g0.is_active as is_active,
        {%- for i in range(max_depth + 1) %}
        g{{ i }}.grid_code as step_{{ i }}_code,
        g{{ i }}.is_active as step_{{ i }}_active{{ "," if not loop.last }}
        {%- endfor %}
    from grids as g0
    {%- for i in range(1, max_depth + 1) %}
    left join grids as g{{ i }}
        on g{{ i - 1 }}.merged_into = g{{ i }}.grid_code
        and not g{{ i - 1 }}.is_active
    {%- endfor %}
),

final as (
    select
        grid_code,
        is_active,
        case
            {%- for i in range(max_depth + 1) %}
            when step_{{ i }}_active then step_{{ i }}_code
            {%- endfor %}
        end as current_grid_code,
        case
            {%- for i in range(max_depth + 1) %}
            when step_{{ i }}_active then {{ i }}
            {%- endfor %}
        end as successor_steps
    from chain
)

select * from final
