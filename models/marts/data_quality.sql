{{ config(materialized='cassandra', partition_key=['source'], clustering_key=['check']) }}
{#- Rows in, kept, quarantined and users excluded per source x check. A source file's checks are
    the quarantine catalogue's (macros/quarantine_rules.sql), in its order: a row is quarantined
    by the first it fails, so each check's rows_in are the previous check's rows_kept. The
    'collapse' check (identical_duplicate) removes copies without quarantining them; the 'flag'
    check (identical_transaction_rows) removes nothing: its rows_in are the rows it flags, all
    kept. A 'field' check (unparseable_birth_dt) stands outside the waterfall too: its rows_in
    are the kept rows whose field it set to NULL. Source `population` counts users, from the
    clean onboarding to the analysis population, by the checks below (segment_inconsistent
    only flags). -#}
{%- set population_checks = [
    ('unknown_segment', 'no segment from transactions or rubro' ~ (': kept as unknown' if var('include_unknown_segment') else ': excluded')),
    ('segment_not_selected', 'segment not in ' ~ selected_segments()),
    ('segment_inconsistent', 'transactions say individuals but rubro is set: resolved as individuals'),
] -%}
with catalogue as (
    select source, `check`, step, kind, description
    from values
        {%- for source in staging_models %}
        {%- for rule in quarantine_rules[source] %}
        ('{{ source }}', '{{ rule.reason }}', {{ loop.index }}, '{{ rule.step }}', {{ sql_string(rule.description) }}),
        {%- endfor %}
        {%- endfor %}
        {%- for check, description in population_checks %}
        ('population', '{{ check }}', {{ loop.index }}, 'population', {{ sql_string(description) }})
        {{- ',' if not loop.last }}
        {%- endfor %}
        as catalogue (source, `check`, step, kind, description)
),

-- every staged row with the check that removed it: its quarantine reason, or the collapse of
-- identical copies
staged_rows as (
    {%- for source, model in staging_models.items() %}
    {%- set collapse = quarantine_rules[source] | selectattr('step', 'equalto', 'collapse')
        | map(attribute='reason') | list %}
    select
        '{{ source }}' as source,
        user_id,
        {%- if collapse %}
        coalesce(quarantine_reason, case when is_duplicate_copy then '{{ collapse[0] }}' end)
            as removed_by,
        {%- else %}
        quarantine_reason as removed_by,
        {%- endif %}
        is_quarantined,
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

removed as (
    select
        source,
        removed_by as `check`,
        count(1) as rows_removed,
        count_if(is_quarantined) as rows_quarantined,
        count(distinct case when not user_has_clean_row then user_id end) as users_excluded
    from staged_rows
    where removed_by is not null
    group by source, removed_by
),

-- the transactions' 'flag' check
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

-- the 'field' checks: kept rows whose unparseable value was set to NULL (staging's nulled_fields)
nulled_values as (
    {%- for source, model in staging_models.items()
        if quarantine_rules[source] | selectattr('step', 'equalto', 'field') | list %}
    select
        '{{ source }}' as source,
        nulled.`check`,
        count(1) as nulled_rows
    from {{ ref(model) }}
    lateral view explode(nulled_fields) nulled as `check`
    where is_clean
    group by nulled.`check`
    {{ 'union all' if not loop.last }}
    {%- else %}
    select cast(null as string) as source, cast(null as string) as `check`, 0 as nulled_rows
    where false
    {%- endfor %}
),

source_checks as (
    select
        c.source,
        c.`check`,
        c.step,
        c.kind,
        c.description,
        coalesce(t.total_rows, 0)
            - coalesce(sum(coalesce(r.rows_removed, 0)) over (
                partition by c.source order by c.step
                rows between unbounded preceding and 1 preceding
            ), 0) as rows_in,
        coalesce(r.rows_removed, 0) as rows_removed,
        coalesce(r.rows_quarantined, 0) as rows_quarantined,
        coalesce(r.users_excluded, 0) as users_excluded
    from catalogue as c
    left join source_totals as t  -- an empty file still shows its checks, with zeros
        on c.source = t.source
    left join removed as r
        on c.source = r.source and c.`check` = r.`check`
    where c.kind != 'population'
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
where kind not in ('flag', 'field')

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
    c.source,
    c.`check`,
    cast(coalesce(n.nulled_rows, 0) as bigint),
    cast(coalesce(n.nulled_rows, 0) as bigint),
    cast(0 as bigint),
    cast(0 as bigint),
    c.description
from catalogue as c
left join nulled_values as n
    on c.source = n.source and c.`check` = n.`check`
where c.kind = 'field'

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
