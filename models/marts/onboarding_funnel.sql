{{ config(materialized='cassandra', partition_key=['segment_name', 'ab_group'],
          clustering_key=['stage_order']) }}
{#- Users reaching each stage per segment x A/B group (with `all` for either), every combination
    listed even when empty. The stages are not a strict funnel: a user can set up without
    activating, so a stage's users are not a subset of the previous stage's. -#}
{%- set stages = ['registration', 'activation', 'setup', 'habit'] -%}
with segments as (
    select segment_name from ({{ population_segments() }}) as population_segments
    union all
    select 'all'
),

ab_groups as (
    select ab_group from values ('control'), ('treatment'), ('all') as ab_groups (ab_group)
),

counts as (
    select
        coalesce(segment_name, 'all') as segment_name,
        coalesce(ab_group, 'all') as ab_group,
        count(1) as registration,
        sum(activation) as activation,
        sum(setup) as setup,
        sum(habit) as habit
    from {{ ref('int_user_metrics') }}
    group by grouping sets ((segment_name, ab_group), (segment_name), (ab_group), ())
),

grid as (
    select
        s.segment_name,
        g.ab_group,
        {%- for stage in stages %}
        coalesce(c.{{ stage }}, 0) as {{ stage }}{{ ',' if not loop.last }}
        {%- endfor %}
    from segments as s
    cross join ab_groups as g
    left join counts as c
        on s.segment_name = c.segment_name and g.ab_group = c.ab_group
),

stages as (
    -- one row per stage, from one pass over the grid
    select
        segment_name,
        ab_group,
        registration as registered,
        explode(array(
            {%- for stage in stages %}
            named_struct(
                'stage', '{{ stage }}',
                'stage_order', {{ loop.index }},
                'users', cast({{ stage }} as bigint),
                -- registration is its own previous stage
                'previous_users', cast({{ stages[loop.index0 - 1] if not loop.first else stage }} as bigint)
            ){{ ',' if not loop.last }}
            {%- endfor %}
        )) as s
    from grid
)

select
    segment_name,
    ab_group,
    s.stage,
    s.stage_order,
    s.users,
    s.users / nullif(registered, 0) as rate_of_registered,
    s.users / nullif(s.previous_users, 0) as rate_of_previous
from stages
