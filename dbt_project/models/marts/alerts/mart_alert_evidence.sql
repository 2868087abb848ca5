{#- One row per alert x evidence record: mart_alerts.evidence_keys unnested,
    so alerts join to fct_incident without string matching. -#}
with

alerts as (
    select * from {{ ref('mart_alerts') }}
    where evidence_keys is not null
),

unnested as (
    select
        alert_key,
        rule,
        {{ zhili_split_rows('evidence_keys', "','") }} as incident_key
    from alerts
),

final as (
    select
        -- ids
        {{ dbt.concat(['alert_key', "'#'", 'incident_key']) }} as alert_evidence_key,
        cast(alert_key as string) as alert_key,
        cast(rule as string) as rule,
        cast(incident_key as string) as incident_key
    from unnested
)

select * from final
