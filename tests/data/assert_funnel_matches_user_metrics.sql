{#- Users at each funnel stage equal the per-user mart's count, per segment x A/B group (and
    'all'). The funnel lists every combination, empty ones with 0 users; the recount has no row
    for those. -#}
with recount as (
    select
        segment_name,
        ab_group,
        stack(4, 'registration', users, 'activation', activation_users,
                 'setup', setup_users, 'habit', habit_users) as (stage, users)
    from ({{ user_metrics_rollup(ref('user_onboarding_metrics'), ['segment_name', 'ab_group']) }})
)

select
    coalesce(f.segment_name, r.segment_name) as segment_name,
    coalesce(f.ab_group, r.ab_group) as ab_group,
    coalesce(f.stage, r.stage) as stage,
    f.users as funnel_users,
    r.users as user_metrics_users
from {{ ref('onboarding_funnel') }} as f
full outer join recount as r
    on f.segment_name = r.segment_name and f.ab_group = r.ab_group and f.stage = r.stage
where {{ differs('f.users', 'coalesce(r.users, 0)') }}
