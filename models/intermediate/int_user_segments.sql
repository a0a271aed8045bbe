{#- One row per clean onboarding user: the segment and where it came from. -#}
with users as (
    select user_id
    from {{ ref('stg_onboarding') }}
    where is_clean
),

transaction_segments as (
    select
        user_id,
        case
            when max({{ is_seller_segment('segment') }} or {{ is_collection('type') }})
                then {{ seller_segment() }}
            when max({{ is_individual_segment('segment') }}) then {{ individual_segment() }}
        end as transaction_segment
    from {{ ref('stg_transactions') }}
    where is_clean
    group by user_id
),

rubro_users as (
    select distinct user_id
    from {{ ref('stg_users') }}
    where is_clean and rubro is not null
),

resolved as (
    select
        u.user_id,
        t.transaction_segment,
        r.user_id is not null as has_rubro,
        coalesce(t.transaction_segment, case when r.user_id is not null then {{ seller_segment() }} end)
            as segment
    from users as u
    left join transaction_segments as t
        on u.user_id = t.user_id
    left join rubro_users as r
        on u.user_id = r.user_id
)

select
    user_id,
    segment,
    {{ segment_name('segment') }} as segment_name,
    case
        when transaction_segment is not null then 'transactions'
        when has_rubro then 'rubro'
    end as segment_source,
    transaction_segment,
    has_rubro,
    -- transactions say individual, dim_users says seller: the transactions win
    coalesce({{ is_individual_segment('transaction_segment') }} and has_rubro, false)
        as segment_inconsistent,
    {{ in_population('segment') }} as in_population
from resolved
