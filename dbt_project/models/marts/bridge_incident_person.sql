{#- One row per person named on an incident's current version: the caller of
    a police incident, each petitioner of a case, each person involved in a
    grid event. person_key is null for records not (yet) linked to a person. -#}
with

records as (
    select * from {{ ref('int_persons_resolved') }}
    where role in ('caller', 'petitioner', 'involved')
),

incidents as (
    select * from {{ ref('int_incidents_unioned') }}
),

final as (
    select
        -- ids
        {{ dbt.concat(['incidents.incident_key', "'#'", 'cast(records.member_no as ' ~ dbt.type_string() ~ ')']) }} as incident_person_key,
        incidents.incident_key,
        records.member_no,
        records.person_key,
        records.record_locator,
        -- how
        records.role,
        records.link_method,
        records.is_linked
    from records
    -- the people of the incident's current version only
    inner join incidents
        on records.feed = incidents.source_feed
        and records.file_md5 = incidents.file_md5
        and records.record_no = incidents.record_no
        and records.source_key = incidents.source_id
)

select * from final
