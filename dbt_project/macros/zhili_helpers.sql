{#- Helpers shared by several models. Each stays in ANSI-ish SQL so the
    project can move to Spark or Trino (see DESIGN.md "Beyond one machine"). -#}

{#- Display masks, identical to ingestion.fields.mask_id / mask_phone /
    mask_name: a masked value is for display only, never a join key. -#}
{% macro mask_keep(column, head, tail) -%}
    case
        when length({{ column }}) > {{ head + tail }}
            then substr({{ column }}, 1, {{ head }})
                || lpad('', cast(length({{ column }}) - {{ head + tail }} as integer), '*')
                || substr({{ column }}, length({{ column }}) - {{ tail - 1 }})
        when length({{ column }}) > 0
            then lpad('', cast(length({{ column }}) as integer), '*')
    end
{%- endmacro %}

{% macro mask_id(column) -%}{{ mask_keep(column, 6, 4) }}{%- endmacro %}

{% macro mask_phone(column) -%}{{ mask_keep(column, 3, 4) }}{%- endmacro %}

{% macro mask_name(column) -%}
    case
        when length({{ column }}) >= 3
            then substr({{ column }}, 1, 1)
                || lpad('', cast(length({{ column }}) - 2 as integer), '*')
                || substr({{ column }}, length({{ column }}))
        when length({{ column }}) = 2 then substr({{ column }}, 1, 1) || '*'
        when length({{ column }}) = 1 then '*'
    end
{%- endmacro %}

{#- The date the warehouse reports "as of": var('as_of_date'), else ZHILI_DBT_AS_OF_DATE from the
    environment, else today. zhili passes the environment's: it is read only when a model runs (`execute`),
    never while dbt parses, so a new date each day leaves dbt's partial parse valid, where a new --vars
    makes it parse the whole project again. -#}
{% macro as_of_date() -%}
    {%- set day = var('as_of_date', none) or (env_var('ZHILI_DBT_AS_OF_DATE', '') if execute else '') -%}
    {%- if day -%}
        cast('{{ day }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}

{#- Text key from locator parts; sheet is empty outside workbooks. -#}
{% macro record_locator(prefix='') -%}
    {{ dbt.concat([
        prefix ~ 'feed', "'|'", prefix ~ 'file_md5', "'|'",
        "coalesce(" ~ prefix ~ "sheet, '')", "'|'",
        "cast(" ~ prefix ~ "record_no as " ~ dbt.type_string() ~ ")", "'|'",
        "cast(coalesce(" ~ prefix ~ "member_no, 1) as " ~ dbt.type_string() ~ ")",
    ]) }}
{%- endmacro %}

{#- Midnight (China time: the profile sets TimeZone) at the start of a date. -#}
{% macro start_of_day_at(date_expr) -%}
    cast(cast({{ date_expr }} as timestamp) as {{ zhili_timestamptz() }})
{%- endmacro %}

{% macro zhili_timestamptz() -%}
    {{ return(adapter.dispatch('zhili_timestamptz', 'zhili')()) }}
{%- endmacro %}
{% macro default__zhili_timestamptz() -%}timestamp with time zone{%- endmacro %}
{#- Spark's `timestamp` is an instant (TIMESTAMP_LTZ), shown in the session time zone: DuckDB's timestamptz. -#}
{% macro spark__zhili_timestamptz() -%}timestamp{%- endmacro %}
