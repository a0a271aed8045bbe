{#- Helpers for the singular tests in tests/data/: recount the marts from the per-user mart. -#}

{% macro user_metrics_rollup(relation, columns) -%}
{#- Users, and users and rate of each 0/1 flag, of the per-user mart `relation` per `columns`
    and every roll-up of them, a rolled-up column reading 'all' as in the marts. -#}
select
    {%- for column in columns %}
    case when grouping({{ column }}) = 1 then 'all' else {{ column }} end as {{ column }},
    {%- endfor %}
    count(1) as users,
    {%- for flag in ['drop', 'activation', 'setup', 'habit', 'habit_source'] %}
    sum(`{{ flag }}`) as {{ flag }}_users,
    avg(`{{ flag }}`) as {{ flag }}_rate{{ ',' if not loop.last }}
    {%- endfor %}
from {{ relation }}
group by cube({{ columns | join(', ') }})
{%- endmacro %}


{% macro differs(actual, expected, tolerance=1e-9) -%}
{#- True when two numbers differ (beyond `tolerance`) or only one of them is NULL. -#}
coalesce(abs(({{ actual }}) - ({{ expected }})) > {{ tolerance }}, not (({{ actual }}) <=> ({{ expected }})))
{%- endmacro %}
