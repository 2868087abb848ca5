{#- One row per person key the register ever listed as departed (迁出, 死亡, 注销) with a date: the earliest
    such 状态变更日期 across every weekly snapshot. A departed person stays in the snapshots only a few weeks,
    so the latest snapshot alone forgets early departures; visits to people who had left are judged by
    this. Keys only (no identifiers). -#}
with

source as (
    select * from {{ ref('stg_police_population_versions') }}
),

final as (
    select
        person_key,
        min(status_changed_date) as left_date,
        {{ zhili_arg_min('person_status', 'status_changed_date') }} as left_status
    from source
    where person_key is not null
        and person_status in ('迁出', '死亡', '注销')
        and status_changed_date is not null
    group by person_key
)

select * from final
