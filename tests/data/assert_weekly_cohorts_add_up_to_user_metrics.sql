{#- Summed over the weeks, weekly_cohorts users equal the per-user mart's users per segment x
    A/B group (and 'all'): no user lost or counted twice. -#}
select
    coalesce(w.segment_name, r.segment_name) as segment_name,
    coalesce(w.ab_group, r.ab_group) as ab_group,
    w.users as weekly_users,
    r.users as user_metrics_users
from (
    select segment_name, ab_group, sum(users) as users
    from {{ ref('weekly_cohorts') }}
    group by segment_name, ab_group
) as w
full outer join (
    {{ user_metrics_rollup(ref('user_onboarding_metrics'), ['segment_name', 'ab_group']) }}
) as r
    on w.segment_name = r.segment_name and w.ab_group = r.ab_group
where {{ differs('w.users', 'r.users') }}
