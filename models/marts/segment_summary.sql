{{ config(materialized='cassandra', partition_key=['segment_name']) }}
{#- Users and rates per segment of the population, plus `all`. A rate is the mean of a 0/1 flag
    over users. Segments of the population with no users still get a row (rates NULL). -#}
with segments as (
    {{ population_segments() }}
    union all
    select cast(null as int), 'all', 1000
),

per_segment as (
    select
        coalesce(segment_name, 'all') as segment_name,
        count(1) as users,
        avg(`drop`) as drop_rate,
        avg(activation) as activation_rate,
        avg(setup) as setup_rate,
        avg(habit) as habit_rate,
        avg(habit_source) as habit_source_rate
    from {{ ref('int_user_metrics') }}
    group by grouping sets ((segment_name), ())
)

select
    s.segment_name,
    s.segment,
    coalesce(p.users, 0) as users,
    p.drop_rate,
    p.activation_rate,
    p.setup_rate,
    p.habit_rate,
    p.habit_source_rate
from segments as s
left join per_segment as p
    on s.segment_name = p.segment_name
