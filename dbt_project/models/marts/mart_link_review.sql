{#- One row per uncertain person link: the pairs the linkage step scored in
    the review band [0.5, 0.99) whose two sides ended in different persons,
    and accepted links the chaining guard refused. Evidence side by side,
    masked only (ingestion.linkage writes it already masked); an analyst
    confirms or rejects each pair. Empty until the linkage step has run.
    review.parquet has one schema (ingestion.linkage.REVIEW_SCHEMA) whichever
    model scored the pairs (trained here, the shipped priors, or none when
    there was nothing to compare); its comparison levels are null for a pair
    Splink did not score. -#}
-- depends_on: {{ source('person_links', 'review') }}
{%- set has_review = zhili_source_exists('person_links', 'review') %}
with

{% if has_review -%}
review as (
    select * from {{ source('person_links', 'review') }}
),
{%- else -%}
review as (
    select
        cast(null as {{ dbt.type_string() }}) as pair_key,
        cast(null as double) as match_probability,
        cast(null as double) as match_weight,
        cast(null as {{ dbt.type_string() }}) as rule,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as integer) as gamma_name,
        cast(null as integer) as gamma_birth_date,
        cast(null as integer) as gamma_id_head,
        cast(null as integer) as gamma_phone,
        cast(null as integer) as gamma_place,
        cast(null as integer) as gamma_sex,
        cast(null as boolean) as is_same_name_pinyin,
        {%- for side in ['l', 'r'] %}
        cast(null as {{ dbt.type_string() }}) as record_locator_{{ side }},
        cast(null as {{ dbt.type_string() }}) as person_key_{{ side }},
        cast(null as {{ dbt.type_string() }}) as feed_{{ side }},
        cast(null as {{ dbt.type_string() }}) as id_status_{{ side }},
        cast(null as {{ dbt.type_string() }}) as id_masked_{{ side }},
        cast(null as {{ dbt.type_string() }}) as name_masked_{{ side }},
        cast(null as {{ dbt.type_string() }}) as phone_masked_{{ side }},
        cast(null as date) as birth_date_{{ side }},
        cast(null as {{ dbt.type_string() }}) as sex_{{ side }},
        cast(null as {{ dbt.type_string() }}) as grid_code_{{ side }}{{ "," if not loop.last }}
        {%- endfor %}
    where false
),
{%- endif %}

final as (
    select
        -- ids
        pair_key,
        -- score
        match_probability,
        match_weight,
        rule as blocking_rule,
        reason as review_reason,
        -- comparison levels (Splink gamma: -1 missing, 0 disagree, higher = closer)
        cast(gamma_name as integer) as name_level,
        cast(gamma_birth_date as integer) as birth_date_level,
        cast(gamma_id_head as integer) as id_head_level,
        cast(gamma_phone as integer) as phone_level,
        cast(gamma_place as integer) as place_level,
        cast(gamma_sex as integer) as sex_level,
        is_same_name_pinyin,
        -- left record (masked)
        record_locator_l as left_record_locator,
        person_key_l as left_person_key,
        feed_l as left_feed,
        id_status_l as left_id_status,
        id_masked_l as left_id_masked,
        name_masked_l as left_name_masked,
        phone_masked_l as left_phone_masked,
        birth_date_l as left_birth_date,
        sex_l as left_sex,
        grid_code_l as left_grid_code,
        -- right record (masked)
        record_locator_r as right_record_locator,
        person_key_r as right_person_key,
        feed_r as right_feed,
        id_status_r as right_id_status,
        id_masked_r as right_id_masked,
        name_masked_r as right_name_masked,
        phone_masked_r as right_phone_masked,
        birth_date_r as right_birth_date,
        sex_r as right_sex,
        grid_code_r as right_grid_code
    from review
)

select * from final
