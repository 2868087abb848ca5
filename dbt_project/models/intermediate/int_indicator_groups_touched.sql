{#- The mart_indicators groups (indicator, level, unit, period grain, period) that hold a day whose sums in
    int_indicator_measures_unioned changed since the mart was last built: the comparison with the copy
    int_indicator_measures_built, read through adapter.get_relation (it runs after the mart). Empty when there
    is no copy yet; the mart then recomputes every group (macros/indicators_incremental.sql). -#}
-- depends_on: {{ ref('int_indicator_measures_unioned') }}
{%- set built = indicator_measures_built() %}
{%- if built is none %}
select
    cast(null as {{ dbt.type_string() }}) as indicator_code,
    cast(null as {{ dbt.type_string() }}) as level,
    cast(null as {{ dbt.type_string() }}) as unit_code,
    cast(null as {{ dbt.type_string() }}) as period_grain,
    cast(null as date) as period_start_date
where false
{%- else %}
{{ indicator_touched_groups(built) }}
{%- endif %}
