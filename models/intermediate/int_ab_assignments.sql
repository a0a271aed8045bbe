{#- One row per clean onboarding user: hash bucket and A/B group. A group read from the source
    (var `ab_group_column`) wins when it says control or treatment. -#}
with users as (
    select user_id, ab_group_source
    from {{ ref('stg_onboarding') }}
    where is_clean
),

bucketed as (
    select
        user_id,
        ab_group_source,
        {{ ab_bucket('user_id', sql_string(var('ab_salt'))) }}
            as ab_bucket
    from users
)

select
    user_id,
    ab_bucket,
    case
        when ab_group_source in ('control', 'treatment') then ab_group_source
        else {{ ab_group('ab_bucket', var('control_share')) }}
    end as ab_group,
    case
        when ab_group_source in ('control', 'treatment') then 'source'
        else 'hash'
    end as ab_group_origin
from bucketed
