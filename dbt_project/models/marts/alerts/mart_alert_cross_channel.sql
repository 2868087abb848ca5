{#- One row per 12345 order x linked 110 call or petition, for the orders that
    start a cross-channel escalation: the same person (person_key) or the same
    address point (address_code) appears in the order, a 110 call and a
    petition, all three within hotline_escalation_window_days of each other;
    when all the links are by place, the three must also share the taxonomy
    code (one matter), since a building's households use all three channels.
    See the mart_alert_cross_channel docs block (docs/alerts/cross_channel_escalation.md). -#}
{%- set window_days = var('hotline_escalation_window_days', 14) -%}
with

orders as (
    select
        incident_key,
        called_at as received_at,
        caller_person_key as person_key,
        address_code,
        taxonomy_code
    from {{ ref('fct_hotline_order') }}
    where not is_cancelled
        and called_date <= {{ as_of_date() }}
        and (caller_person_key is not null or address_code is not null)
),

others as (
    select
        incident_key,
        source_feed,
        source_id,
        received_at,
        taxonomy_code
    from {{ ref('fct_incident') }}
    where source_feed in ('police_incidents', 'petitions')
        and received_date <= {{ as_of_date() }}
),

-- the address point of the call or of the petition's problem (staging keeps it; fct_incident does not)
other_places as (
    select others.incident_key, police.address_code
    from others
    inner join {{ ref('stg_police_incidents') }} as police
        on others.source_feed = 'police_incidents' and others.source_id = police.incident_id
    where police.address_code is not null
    union all
    select others.incident_key, petitions.address_code
    from others
    inner join {{ ref('stg_petitions') }} as petitions
        on others.source_feed = 'petitions' and others.source_id = petitions.case_id
    where petitions.address_code is not null
),

other_people as (
    select distinct others.incident_key, people.person_key
    from others
    inner join {{ ref('bridge_incident_person') }} as people
        on others.incident_key = people.incident_key
    where people.person_key is not null
),

-- two equality joins (person, place) rather than one join on "person or place", so both stay hash joins
links as (
    select orders.incident_key as order_key, other_people.incident_key, 'person' as link
    from orders
    inner join other_people
        on orders.person_key = other_people.person_key
    union all
    select orders.incident_key as order_key, other_places.incident_key, 'place' as link
    from orders
    inner join other_places
        on orders.address_code = other_places.address_code
),

linked as (
    select
        links.order_key,
        orders.received_at as order_at,
        orders.taxonomy_code as order_taxonomy_code,
        others.incident_key,
        others.source_feed,
        others.received_at,
        others.taxonomy_code,
        {{ zhili_string_agg('links.link', "'+'", 'links.link', distinct=true) }} as linked_by
    from links
    inner join orders
        on links.order_key = orders.incident_key
    inner join others
        on links.incident_key = others.incident_key
    where others.received_at between orders.received_at - interval {{ window_days }} days
        and orders.received_at + interval {{ window_days }} days
    group by all
),

-- a 110 call and a petition linked to the same order, the three spanning at most the window; a person link
-- in the triple, or else one taxonomy code on all three (in a building of dozens of households, three
-- channels within two weeks about different matters are ordinary traffic, not one dispute escalating)
triples as (
    select
        police.order_key,
        police.incident_key as police_key,
        petition.incident_key as petition_key
    from linked as police
    inner join linked as petition
        on police.order_key = petition.order_key
    where police.source_feed = 'police_incidents'
        and petition.source_feed = 'petitions'
        and greatest(police.order_at, police.received_at, petition.received_at)
            <= least(police.order_at, police.received_at, petition.received_at) + interval {{ window_days }} days
        and (
            contains(police.linked_by, 'person')
            or contains(petition.linked_by, 'person')
            or (police.taxonomy_code = police.order_taxonomy_code and petition.taxonomy_code = police.order_taxonomy_code)
        )
),

in_triples as (
    select order_key, police_key as incident_key from triples
    union
    select order_key, petition_key as incident_key from triples
),

final as (
    select
        -- ids
        {{ dbt.concat(['linked.order_key', "'#'", 'linked.incident_key']) }} as escalation_link_key,
        cast(linked.order_key as string) as order_incident_key,
        cast(linked.incident_key as string) as incident_key,
        -- what links them
        cast(linked.source_feed as string) as source_feed,
        cast(linked.linked_by as string) as linked_by,
        -- when
        cast(linked.order_at as {{ zhili_timestamptz() }}) as order_at,
        cast(linked.received_at as {{ zhili_timestamptz() }}) as received_at
    from linked
    inner join in_triples
        on linked.order_key = in_triples.order_key
        and linked.incident_key = in_triples.incident_key
)

select * from final
