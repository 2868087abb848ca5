{#- Governance indicators in one tidy long table: one row per indicator x
    level (grid, community, street, county) x unit x period grain (day,
    month, year) x period x source x category, with numerator, denominator
    and value. Formulas, denominators and period attribution: the
    mart_indicators docs block and docs/indicators/. Rows exist only where
    the numerator or denominator is non-zero.

    Incremental by period (issue 20): a run recomputes only the (indicator, level, unit, grain, period) groups
    whose day sums in int_indicator_measures_unioned changed since the build int_indicator_measures_built
    recorded (int_indicator_groups_touched; macros/indicators_incremental.sql), and every row that is not a
    sum of those alone (police_per_10k's population, the 探访关爱 snapshot, 积分参与率); a post-hook moves
    every row's as_of_date to the reporting date. On Spark, a table rebuilt each run
    (zhili_incremental_config). -#}
-- depends_on: {{ ref('int_indicator_groups_touched') }}
{{ config(**zhili_incremental_config({
    'materialized': 'incremental',
    'incremental_strategy': 'append',
    'on_schema_change': 'fail',
    'pre_hook': ["{{ indicator_delete_recomputed() }}"],
    'post_hook': ["{{ indicator_restamp_as_of() }}"],
})) }}
with

grids as (
    select * from {{ ref('dim_grid') }}
),

care as (
    select * from {{ ref('mart_care_visits') }}
),

definitions as (
    select * from {{ ref('indicator_definitions') }}
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

county as (
    -- unplaced records still count at county level: the registry's county
    select min(county_code) as county_code from grids
),

-- a partial run reads the measures of every indicator recomputed each run, and those of an indicator in a
-- year that holds a touched group (int_indicator_groups_touched); the exact groups are kept below. A full
-- build reads the table itself in each branch (a CTE read fifteen times would be held in memory whole).
{%- set partial = indicator_build_is_partial() %}
{%- if partial %}
measures as (
    select * from {{ ref('int_indicator_measures_unioned') }} as measured
    where measured.indicator_code in ({{ indicator_codes_recomputed_every_run() }})
        or exists (
            select 1 from {{ ref('int_indicator_groups_touched') }} as touched
            where touched.period_grain = 'year'
                and touched.indicator_code = measured.indicator_code
                and touched.period_start_date = cast({{ dbt.date_trunc('year', 'measured.measure_date') }} as date)
        )
),
{%- endif %}

-- every record rule, summed per day and place (int_indicator_measures_unioned), fanned out once per level the
-- record reaches and per period grain, each by source and category, summed over sources, over categories and
-- over both: one aggregation of four grouping sets per level and grain. At 1M
-- residents this is ~107M rows; held as copies of the day sums read once per grain and slice (the form
-- before) it ran out of memory or spilled past 15 GB. grouping() tells a slice's 'all' from a feed or category
-- left empty; the slices cannot share a key ('all' is no feed and no taxonomy code).
aggregated as (
{%- for level, unit in indicator_levels() %}{% set outer = loop %}
{%- for grain, period in indicator_grains() %}
    {{ 'union all' if not (outer.first and loop.first) }}
    select
        indicator_code,
        '{{ level }}' as level,
        unit_code,
        '{{ grain }}' as period_grain,
        period_start_date,
        case when grouping(source_feed) = 0 then source_feed else 'all' end as source,
        case when grouping(taxonomy_code) = 0 then taxonomy_code else 'all' end as category,
        sum(num) as numerator,
        sum(den) as denominator
    from (
        select
            indicator_code,
            {{ unit }} as unit_code,
            {{ period }} as period_start_date,
            source_feed, taxonomy_code, num, den
        from {{ 'measures' if partial else ref('int_indicator_measures_unioned') }}
        where {{ unit }} is not null
    ) as measured
    {%- if partial %}
    where measured.indicator_code in ({{ indicator_codes_recomputed_every_run() }})
        or {{ indicator_group_touched('measured', "'" ~ level ~ "'", "'" ~ grain ~ "'") }}
    {%- endif %}
    group by grouping sets (
        (indicator_code, unit_code, period_start_date, source_feed, taxonomy_code),
        (indicator_code, unit_code, period_start_date, taxonomy_code),
        (indicator_code, unit_code, period_start_date, source_feed),
        (indicator_code, unit_code, period_start_date)
    )
{%- endfor %}
{%- endfor %}
),

-- population for 万人警情率: the centre's 常住人口 of the grids active on the reporting date
-- (the warehouse's resident count where the register leaves it empty)
active_grids as (
    select
        grid_code,
        community_code,
        street_code,
        county_code,
        coalesce(population_registered, warehouse_resident_count) as population
    from grids
    where is_active
),

-- one copy of each grid per level (a union, not a lateral VALUES over the grid's columns: Spark's inline
-- tables take constants only)
population as (
    select level, unit_code, sum(population) as population
    from (
        select 'grid' as level, grid_code as unit_code, population from active_grids
        union all
        select 'community', community_code, population from active_grids
        union all
        select 'street', street_code, population from active_grids
        union all
        select 'county', county_code, population from active_grids
    ) as units
    group by level, unit_code
),

with_population as (
    select
        aggregated.indicator_code,
        aggregated.level,
        aggregated.unit_code,
        aggregated.period_grain,
        aggregated.period_start_date,
        aggregated.source,
        aggregated.category,
        aggregated.numerator,
        case
            when aggregated.indicator_code = 'police_per_10k' then population.population
            when definitions.kind = 'count' then null
            else aggregated.denominator
        end as denominator
    from aggregated
    left join definitions
        on aggregated.indicator_code = definitions.indicator_code
    left join population
        on aggregated.indicator_code = 'police_per_10k'
        and aggregated.level = population.level
        and aggregated.unit_code = population.unit_code
),

-- 探访关爱 coverage: residents in a care tier visited within the tier's interval, as of the
-- reporting date (a snapshot: period grain 'day' at as_of_date); category = tier
care_measures as (
    select
        care.*,
        left(care.grid_code, 12) as community_code,
        left(care.grid_code, 9) as street_code,
        coalesce(left(care.grid_code, 6), county.county_code) as county_code
    from care
    cross join county
),

care_leveled as (
    select 'grid' as level, grid_code as unit_code, care_tier, is_visited_within_interval from care_measures where grid_code is not null
    union all
    select 'community', community_code, care_tier, is_visited_within_interval from care_measures where community_code is not null
    union all
    select 'street', street_code, care_tier, is_visited_within_interval from care_measures where street_code is not null
    union all
    select 'county', county_code, care_tier, is_visited_within_interval from care_measures where county_code is not null
),

-- each row under its tier and under 'all' (a union, not a lateral VALUES over the tier: see population)
care_tiered as (
    select level, unit_code, care_tier as category, is_visited_within_interval from care_leveled
    union all
    select level, unit_code, 'all', is_visited_within_interval from care_leveled
),

care_aggregated as (
    select
        indicators.indicator_code,
        care_tiered.level,
        care_tiered.unit_code,
        'day' as period_grain,
        as_of.as_of_date as period_start_date,
        'civil_affairs' as source,
        care_tiered.category,
        sum(case when indicators.indicator_code = 'care_visit_coverage' and care_tiered.is_visited_within_interval then 1
                 when indicators.indicator_code = 'vulnerable_residents' then 1 else 0 end) as numerator,
        sum(case when indicators.indicator_code = 'care_visit_coverage' then 1 end) as denominator
    from care_tiered
    cross join as_of
    cross join (values ('care_visit_coverage'), ('vulnerable_residents')) as indicators(indicator_code)
    group by indicators.indicator_code, care_tiered.level, care_tiered.unit_code, as_of.as_of_date, care_tiered.category
),

-- credit_points (issue 23): 积分参与率 per community and quarter (mart_credit_participation), and the county's
-- (its communities' sums); a quarter is its own period grain: distinct households do not add up over days
credit_participation as (
    select
        'credit_participation_rate' as indicator_code,
        'community' as level,
        community_code as unit_code,
        'quarter' as period_grain,
        quarter_start_date as period_start_date,
        'credit_points' as source,
        'all' as category,
        households_taking_part as numerator,
        -- no register households (the register exports 户号 only from some week on): no rate, not a share over 0
        nullif(register_households, 0) as denominator
    from {{ ref('mart_credit_participation') }}
    union all
    select
        'credit_participation_rate', 'county', left(community_code, 6), 'quarter', quarter_start_date,
        'credit_points', 'all', sum(households_taking_part), nullif(sum(register_households), 0)
    from {{ ref('mart_credit_participation') }}
    group by left(community_code, 6), quarter_start_date
),

unioned as (
    -- the three list the same columns in the same order
    select * from with_population
    union all
    select * from care_aggregated
    union all
    select * from credit_participation
),

final as (
    select
        -- ids
        {{ dbt.concat([
            'unioned.indicator_code', "'|'", 'unioned.level', "'|'", 'unioned.unit_code', "'|'",
            'unioned.period_grain', "'|'", 'cast(unioned.period_start_date as ' ~ dbt.type_string() ~ ')', "'|'",
            'unioned.source', "'|'", 'unioned.category',
        ]) }} as indicator_row_key,
        cast(unioned.indicator_code as string) as indicator_code,
        definitions.indicator_name_zh,
        cast(unioned.level as string) as level,
        cast(unioned.unit_code as string) as unit_code,
        cast(unioned.period_grain as string) as period_grain,
        cast(unioned.period_start_date as date) as period_start_date,
        cast(unioned.source as string) as source,
        cast(unioned.category as string) as category,
        -- values
        cast(unioned.numerator as bigint) as numerator,
        cast(unioned.denominator as bigint) as denominator,
        cast(case
            when definitions.kind = 'count' then unioned.numerator
            when unioned.denominator is null or unioned.denominator = 0 then null
            else unioned.numerator * definitions.scale / unioned.denominator
        end as double) as value,
        cast(as_of.as_of_date as date) as as_of_date
    from unioned
    cross join as_of
    left join definitions
        on unioned.indicator_code = definitions.indicator_code
    where unioned.numerator > 0 or coalesce(unioned.denominator, 0) > 0
)

select * from final
