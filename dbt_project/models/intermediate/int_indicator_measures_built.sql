{#- What mart_indicators was last built from: a copy of int_indicator_measures_unioned made after the mart
    (depends_on below). The mart reads it through adapter.get_relation, not ref() (that would be a cycle), to
    find the day sums that changed since (macros/indicators_incremental.sql). -#}
-- depends_on: {{ ref('mart_indicators') }}
select {{ indicator_measure_columns() }} from {{ ref('int_indicator_measures_unioned') }}
