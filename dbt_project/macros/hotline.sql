{#- The handling level of a 12345 承办单位 from its name: a 居委会/村委会 is the community, a 街道办事处 or a
    town's 人民政府 the street, anything else a 区直部门. -#}
{% macro hotline_unit_level(column) -%}
    case
        when {{ column }} like '%居委会' or {{ column }} like '%村委会' or {{ column }} like '%社区%' then '社区'
        when {{ column }} like '%办事处' or {{ column }} like '%街道%' or {{ column }} like '%镇人民政府'
            or {{ column }} like '%乡人民政府' then '街道'
        when {{ column }} is not null then '区直部门'
    end
{%- endmacro %}
