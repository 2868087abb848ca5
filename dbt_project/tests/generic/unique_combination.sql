{#- Rows whose combination of columns is not unique (dbt_utils is not
    installed offline, so the project carries its own). -#}
{% test unique_combination(model, columns) %}
select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
