{{ config(materialized='cassandra', partition_key=['segment_name'], clustering_key=['metric']) }}
{#- Treatment vs control per metric x segment (and `all`): rates, difference, lift, pooled
    two-proportion z-test, 95% CI of the difference (unpooled SE), and a sample-ratio-mismatch
    check per segment. Undefined statistics are NULL. -#}
{%- set metrics = ['drop', 'activation', 'setup', 'habit'] -%}
{%- set control_share = var('control_share') -%}
with segments as (
    select segment_name from ({{ population_segments() }}) as population_segments
    union all
    select 'all'
),

counts as (
    select
        coalesce(segment_name, 'all') as segment_name,
        count_if(ab_group = 'control') as n_control,
        count_if(ab_group = 'treatment') as n_treatment,
        {%- for metric in metrics %}
        sum(case when ab_group = 'control' then `{{ metric }}` else 0 end) as {{ metric }}_control,
        sum(case when ab_group = 'treatment' then `{{ metric }}` else 0 end) as {{ metric }}_treatment
        {{- ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_user_metrics') }}
    group by grouping sets ((segment_name), ())
),

per_segment as (
    select
        s.segment_name,
        coalesce(c.n_control, 0) as n_control,
        coalesce(c.n_treatment, 0) as n_treatment,
        {%- for metric in metrics %}
        coalesce(c.{{ metric }}_control, 0) as {{ metric }}_control,
        coalesce(c.{{ metric }}_treatment, 0) as {{ metric }}_treatment,
        {%- endfor %}
        {{ srm_chi2('coalesce(c.n_control, 0)', 'coalesce(c.n_treatment, 0)', control_share) }}
            as srm_chi2
    from segments as s
    left join counts as c
        on s.segment_name = c.segment_name
),

exploded as (
    -- one row per metric, from one pass over the segments
    select
        segment_name,
        n_control,
        n_treatment,
        srm_chi2,
        explode(array(
            {%- for metric in metrics %}
            named_struct(
                'metric', '{{ metric }}',
                'x_control', {{ metric }}_control,
                'x_treatment', {{ metric }}_treatment
            ){{ ',' if not loop.last }}
            {%- endfor %}
        )) as m
    from per_segment
),

per_metric as (
    select
        m.metric,
        segment_name,
        n_control,
        n_treatment,
        m.x_control,
        m.x_treatment,
        srm_chi2
    from exploded
),

tested as (
    select
        metric,
        segment_name,
        cast(n_control as bigint) as n_control,
        cast(n_treatment as bigint) as n_treatment,
        {{ proportion('x_control', 'n_control') }} as rate_control,
        {{ proportion('x_treatment', 'n_treatment') }} as rate_treatment,
        {{ two_proportion_z('x_control', 'n_control', 'x_treatment', 'n_treatment') }} as z,
        {{ diff_ci_low('x_control', 'n_control', 'x_treatment', 'n_treatment') }} as ci_low,
        {{ diff_ci_high('x_control', 'n_control', 'x_treatment', 'n_treatment') }} as ci_high,
        srm_chi2
    from per_metric
),

with_p_values as (
    select
        *,
        rate_treatment - rate_control as diff,
        {{ two_sided_p_value('z') }} as p_value,
        {{ chi2_1df_p_value('srm_chi2') }} as srm_p_value
    from tested
)

select
    metric,
    segment_name,
    n_control,
    n_treatment,
    rate_control,
    rate_treatment,
    diff,
    diff / nullif(rate_control, 0) as relative_lift,
    z,
    p_value,
    ci_low,
    ci_high,
    p_value < {{ var('alpha') }} as significant,
    srm_chi2,
    srm_p_value,
    srm_p_value < {{ var('srm_alpha') }} as srm_detected
from with_p_values
