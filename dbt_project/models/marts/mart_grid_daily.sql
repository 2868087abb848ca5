{#- Incident flow per grid (the grid active when the incident happened), day
    (China time) and taxonomy code: opened on the day it was received, closed
    on the day it was closed, overdue on the first day past its due time when
    it was not closed by then. Days without any flow have no row. -#}
with

incidents as (
    select * from {{ ref('fct_incident') }}
),

opened as (
    select
        grid_code,
        cast(received_at as date) as activity_date,
        taxonomy_code,
        1 as opened_count,
        0 as closed_count,
        0 as closed_on_time_count,
        0 as overdue_count
    from incidents
),

closed as (
    select
        grid_code,
        cast(closed_at as date) as activity_date,
        taxonomy_code,
        0 as opened_count,
        1 as closed_count,
        case when is_closed_on_time then 1 else 0 end as closed_on_time_count,
        0 as overdue_count
    from incidents
    where closed_at is not null
),

overdue as (
    select
        grid_code,
        cast(due_at as date) as activity_date,
        taxonomy_code,
        0 as opened_count,
        0 as closed_count,
        0 as closed_on_time_count,
        1 as overdue_count
    from incidents
    where is_overdue
),

unioned as (
    select * from opened
    union all
    select * from closed
    union all
    select * from overdue
),

final as (
    select
        -- ids
        {{ dbt.concat(["coalesce(grid_code, 'unplaced')", "'|'", 'cast(activity_date as ' ~ dbt.type_string() ~ ')', "'|'", 'taxonomy_code']) }} as grid_day_taxonomy_key,
        grid_code,
        activity_date,
        taxonomy_code,
        -- flow
        cast(sum(opened_count) as {{ dbt.type_bigint() }}) as opened_count,
        cast(sum(closed_count) as {{ dbt.type_bigint() }}) as closed_count,
        cast(sum(closed_on_time_count) as {{ dbt.type_bigint() }}) as closed_on_time_count,
        cast(sum(overdue_count) as {{ dbt.type_bigint() }}) as overdue_count
    from unioned
    group by grid_code, activity_date, taxonomy_code
)

select * from final
