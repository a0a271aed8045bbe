{{ config(materialized='cassandra', partition_key=['week_year'],
          clustering_key=['segment_name', 'ab_group']) }}
{#- Users and rates per first-login week x segment x A/B group, with `all` roll-ups. -#}
select
    week_year,
    -- Monday of the ISO week (2021-12-27 for the 2022-01-01/02 users of week 52)
    min(cast(date_trunc('week', first_login_dt) as date)) as week_start,
    coalesce(segment_name, 'all') as segment_name,
    coalesce(ab_group, 'all') as ab_group,
    count(1) as users,
    avg(`drop`) as drop_rate,
    avg(activation) as activation_rate,
    avg(setup) as setup_rate,
    avg(habit) as habit_rate
from {{ ref('int_user_metrics') }}
group by grouping sets (
    (week_year, segment_name, ab_group),
    (week_year, segment_name),
    (week_year, ab_group),
    (week_year)
)
