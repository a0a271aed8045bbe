{{ config(persist=true) }}
{#- One row per user of the analysis population: segment, A/B group, the four flags. The final
    select is the user_onboarding_metrics contract (docs/CONTRACTS.md): that mart selects *. -#}
with onboarding as (
    select *
    from {{ ref('stg_onboarding') }}
    where is_clean
),

joined as (
    select
        o.user_id,
        s.segment,
        s.segment_name,
        a.ab_group,
        a.ab_bucket,
        o.first_login_dt,
        -- ISO week of the first login when the file leaves it empty
        coalesce(o.week_year, weekofyear(o.first_login_dt)) as week_year,
        o.`return`,
        o.return_dt,
        o.activacion_dt,
        o.setup_dt,
        o.habito,
        coalesce(w.transactions_in_window, 0) as transactions_in_window,
        coalesce(w.collections_in_window, 0) as collections_in_window,
        coalesce(w.transaction_days_in_window, 0) as transaction_days_in_window,
        coalesce(w.transaction_types, cast(array() as array<int>)) as transaction_types,
        w.transaction_days,
        w.collection_dates
    from onboarding as o
    inner join {{ ref('int_user_segments') }} as s
        on o.user_id = s.user_id
    inner join {{ ref('int_ab_assignments') }} as a
        on o.user_id = a.user_id
    left join {{ ref('int_user_window_activity') }} as w
        on o.user_id = w.user_id
    where s.in_population
),

flagged as (
    select
        *,
        case when `return` = 0 then 1 else 0 end as `drop`,
        case when activacion_dt is not null then 1 else 0 end as activation,
        case when setup_dt is not null then 1 else 0 end as setup,
        case
            when {{ habit_reached('segment', 'transaction_days_in_window', 'collections_in_window') }}
                then 1
            else 0
        end as habit,
        coalesce(habito, 0) as habit_source
    from joined
)

select
    user_id,
    segment,
    segment_name,
    ab_group,
    ab_bucket,
    first_login_dt,
    week_year,
    `drop`,
    activation,
    setup,
    habit,
    habit_source,
    datediff(activacion_dt, first_login_dt) as days_to_activation,
    datediff(setup_dt, first_login_dt) as days_to_setup,
    transactions_in_window,
    collections_in_window,
    map_filter(
        map(
            'registration', first_login_dt,
            'return', return_dt,
            'activation', activacion_dt,
            'setup', setup_dt,
            'habit', case
                when habit = 1
                    then {{ habit_date('segment', 'transaction_days', 'collection_dates', 'first_login_dt') }}
            end
        ),
        (k, v) -> v is not null
    ) as milestones,
    transaction_types
from flagged
