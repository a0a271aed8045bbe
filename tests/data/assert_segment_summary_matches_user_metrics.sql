{#- Users and rates of segment_summary equal those recomputed from the per-user mart, per segment
    and 'all'. A population segment without users has 0 users and NULL rates. -#}
{%- set rates = ['drop_rate', 'activation_rate', 'setup_rate', 'habit_rate', 'habit_source_rate'] -%}
select
    coalesce(s.segment_name, r.segment_name) as segment_name,
    s.users as summary_users,
    r.users as user_metrics_users,
    {%- for rate in rates %}
    s.{{ rate }} as summary_{{ rate }},
    r.{{ rate }} as user_metrics_{{ rate }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ ref('segment_summary') }} as s
full outer join (
    {{ user_metrics_rollup(ref('user_onboarding_metrics'), ['segment_name']) }}
) as r
    on s.segment_name = r.segment_name
where {{ differs('s.users', 'coalesce(r.users, 0)') }}
    {%- for rate in rates %}
    or {{ differs('s.' ~ rate, 'r.' ~ rate) }}
    {%- endfor %}
