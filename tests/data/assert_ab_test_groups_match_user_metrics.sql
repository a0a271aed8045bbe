{#- n_control + n_treatment of every metric equal the users of the segment (and 'all') in the
    per-user mart. -#}
select
    coalesce(a.segment_name, r.segment_name) as segment_name,
    a.metric,
    a.n_control,
    a.n_treatment,
    r.users as user_metrics_users
from {{ ref('ab_test_results') }} as a
full outer join (
    {{ user_metrics_rollup(ref('user_onboarding_metrics'), ['segment_name']) }}
) as r
    on a.segment_name = r.segment_name
where {{ differs('a.n_control + a.n_treatment', 'r.users') }}
