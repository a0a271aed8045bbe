{{ config(materialized='cassandra', partition_key=['source'], clustering_key=['check']) }}
{#- Rows in, kept, quarantined and users excluded per source x check. The checks of a source run
    in the order listed (a row is quarantined by the first it fails), so each check's rows_in are
    the previous check's rows_kept. Informational checks (`identical_transaction_rows`,
    `segment_inconsistent`) quarantine nothing: their rows_in are the rows they flag, all kept.
    Source `population` counts users, from the clean onboarding to the analysis population. -#}
{%- set checks = {
    'lk_onboarding': [
        ('malformed_record', 'record the CSV parser could not split into the declared columns'),
        ('malformed_user_id', 'user_id does not match ' ~ var('user_id_pattern')),
        ('unparseable_first_login_dt', 'first_login_dt is not a YYYY-MM-DD[ 00:00:00] date'),
        ('unparseable_week_year', 'week_year is not an integer'),
        ('unparseable_habito', 'habito is not a 0/1 flag'),
        ('unparseable_habito_dt', 'habito_dt is not a YYYY-MM-DD[ 00:00:00] date'),
        ('unparseable_activacion', 'activacion is not a 0/1 flag'),
        ('unparseable_activacion_dt', 'activacion_dt is not a YYYY-MM-DD[ 00:00:00] date'),
        ('unparseable_setup', 'setup is not a 0/1 flag'),
        ('unparseable_setup_dt', 'setup_dt is not a YYYY-MM-DD[ 00:00:00] date'),
        ('unparseable_return', 'return is not a 0/1 flag'),
        ('unparseable_return_dt', 'return_dt is not a YYYY-MM-DD[ 00:00:00] date'),
        ('missing_first_login_dt', 'no first_login_dt: the onboarding window has no start'),
        ('conflicting_duplicate', 'several rows for one user_id that differ after normalisation: all quarantined'),
        ('date_before_first_login', 'return_dt, activacion_dt, setup_dt or habito_dt earlier than first_login_dt'),
        ('identical_duplicate', 'rows identical after normalisation collapsed to one per user (not quarantined)'),
    ],
    'dim_users': [
        ('malformed_record', 'record the CSV parser could not split into the declared columns'),
        ('malformed_user_id', 'user_id does not match ' ~ var('user_id_pattern')),
        ('unparseable_birth_dt', 'birth_dt is not a YYYY-MM-DD date'),
        ('unparseable_type', 'type is not an integer'),
        ('unparseable_rubro', 'rubro is not an integer'),
    ],
    'bt_users_transactions': [
        ('malformed_record', 'record the CSV parser could not split into the declared columns'),
        ('malformed_user_id', 'user_id does not match ' ~ var('user_id_pattern')),
        ('unparseable_transaction_dt', 'transaction_dt is not a YYYY-MM-DD HH:MM:SS[.f] timestamp'),
        ('unparseable_type', 'type is not an integer'),
        ('unparseable_segment', 'segment is not an integer'),
        ('missing_transaction_dt', 'no transaction_dt'),
        ('unknown_user', 'user_id absent from the clean onboarding'),
        ('identical_transaction_rows', 'copies of another clean row (same user, timestamp, type, segment): kept, there is no transaction id'),
    ],
    'population': [
        ('unknown_segment', 'no segment from transactions or rubro' ~ (': kept as unknown' if var('include_unknown_segment') else ': excluded')),
        ('segment_not_selected', 'segment not in ' ~ selected_segments()),
        ('segment_inconsistent', 'transactions say individuals but rubro is set: resolved as individuals'),
    ],
} -%}
{%- set models = {
    'lk_onboarding': 'stg_onboarding',
    'dim_users': 'stg_users',
    'bt_users_transactions': 'stg_transactions'} -%}
with catalogue as (
    select source, `check`, step, description
    from values
        {%- for source, source_checks in checks.items() %}
        {%- set outer = loop %}
        {%- for check, description in source_checks %}
        ('{{ source }}', '{{ check }}', {{ loop.index }}, {{ sql_string(description) }})
        {{- ',' if not (outer.last and loop.last) }}
        {%- endfor %}
        {%- endfor %}
        as catalogue(source, `check`, step, description)
),

staged_rows as (
    {%- for source, model in models.items() %}
    select
        '{{ source }}' as source,
        user_id,
        quarantine_reason,
        {%- if model == 'stg_onboarding' %}
        is_duplicate_copy,
        {%- else %}
        false as is_duplicate_copy,
        {%- endif %}
        user_has_clean_row
    from {{ ref(model) }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

source_totals as (
    select source, count(1) as total_rows
    from staged_rows
    group by source
),

-- rows each check removes: quarantined ones, and the collapsed copies of identical rows
removed as (
    select
        source,
        coalesce(quarantine_reason, 'identical_duplicate') as `check`,
        count(1) as rows_removed,
        count_if(quarantine_reason is not null) as rows_quarantined,
        count(distinct case when not user_has_clean_row then user_id end) as users_excluded
    from staged_rows
    where quarantine_reason is not null or is_duplicate_copy
    group by source, coalesce(quarantine_reason, 'identical_duplicate')
),

identical_transactions as (
    select
        'bt_users_transactions' as source,
        'identical_transaction_rows' as `check`,
        coalesce(sum(copies), 0) as flagged_rows
    from (
        select count(1) - 1 as copies
        from {{ ref('stg_transactions') }}
        where is_clean
        group by user_id, transaction_ts, type, segment
        having count(1) > 1
    ) as groups
),

source_checks as (
    select
        c.source,
        c.`check`,
        c.step,
        c.description,
        t.total_rows
            - coalesce(sum(coalesce(r.rows_removed, 0)) over (
                partition by c.source order by c.step
                rows between unbounded preceding and 1 preceding
            ), 0) as rows_in,
        coalesce(r.rows_removed, 0) as rows_removed,
        coalesce(r.rows_quarantined, 0) as rows_quarantined,
        coalesce(r.users_excluded, 0) as users_excluded
    from catalogue as c
    inner join source_totals as t
        on c.source = t.source
    left join removed as r
        on c.source = r.source and c.`check` = r.`check`
),

population as (
    select
        count(1) as clean_users,
        count_if(segment is null and not in_population) as unknown_excluded,
        count_if(segment is not null and not in_population) as not_selected,
        count_if(segment_inconsistent) as inconsistent
    from {{ ref('int_user_segments') }}
)

select
    source,
    `check`,
    cast(rows_in as bigint) as rows_in,
    cast(rows_in - rows_removed as bigint) as rows_kept,
    cast(rows_quarantined as bigint) as rows_quarantined,
    cast(users_excluded as bigint) as users_excluded,
    description
from source_checks
where `check` != 'identical_transaction_rows'

union all

select
    t.source,
    t.`check`,
    cast(t.flagged_rows as bigint),
    cast(t.flagged_rows as bigint),
    cast(0 as bigint),
    cast(0 as bigint),
    c.description
from identical_transactions as t
inner join catalogue as c
    on t.source = c.source and t.`check` = c.`check`

union all

select
    'population',
    c.`check`,
    cast(case c.`check`
        when 'unknown_segment' then p.clean_users
        when 'segment_not_selected' then p.clean_users - p.unknown_excluded
        else p.inconsistent
    end as bigint),
    cast(case c.`check`
        when 'unknown_segment' then p.clean_users - p.unknown_excluded
        when 'segment_not_selected' then p.clean_users - p.unknown_excluded - p.not_selected
        else p.inconsistent
    end as bigint),
    cast(0 as bigint),
    cast(case c.`check`
        when 'unknown_segment' then p.unknown_excluded
        when 'segment_not_selected' then p.not_selected
        else 0
    end as bigint),
    c.description
from catalogue as c
cross join population as p
where c.source = 'population'

union all

-- a reason the catalogue does not list still shows, after the listed checks
select
    r.source,
    r.`check`,
    cast(null as bigint),
    cast(null as bigint),
    cast(r.rows_quarantined as bigint),
    cast(r.users_excluded as bigint),
    'unlisted check'
from removed as r
left anti join catalogue as c
    on r.source = c.source and r.`check` = c.`check`
