{#- data_quality adds up, source by source. Each check's rows_quarantined = its rows (by reason)
    in quarantined_rows. The checks form a waterfall: the first examines every record of the
    source file, as the runner's scan counted them before Spark read it (`_file_records`; for
    population: the clean onboarding rows), each next one the rows the previous
    kept, and rows_in = rows_kept + rows_quarantined (population: + users_excluded;
    identical_duplicate collapses copies without quarantining them). Checks are put in waterfall
    order by rows_in, then rows_kept, descending: neither ever grows. Informational checks (the
    catalogue's 'flag' and 'field' checks, and segment_inconsistent) stand outside the
    waterfall; a check missing from the catalogue (NULL counts) fails. -#}
{%- set informational = [('population', 'segment_inconsistent')] -%}
{%- for source, rules in quarantine_rules.items() -%}
{%- for rule in rules if rule.step in ('flag', 'field') -%}
{%- set _ = informational.append((source, rule.reason)) -%}
{%- endfor -%}
{%- endfor -%}
with checks as (
    select
        coalesce(d.source, q.source) as source,
        coalesce(d.`check`, q.reason) as `check`,
        d.rows_in,
        d.rows_kept,
        d.rows_quarantined,
        d.users_excluded,
        coalesce(q.rows, 0) as quarantined_rows,
        (coalesce(d.source, q.source), coalesce(d.`check`, q.reason)) in (
            {%- for source, check in informational %}
            ('{{ source }}', '{{ check }}'){{ ',' if not loop.last }}
            {%- endfor %}
        ) as informational
    from {{ ref('data_quality') }} as d
    full outer join (
        select source, reason, count(1) as rows
        from {{ ref('quarantined_rows') }}
        group by source, reason
    ) as q
        on d.source = q.source and d.`check` = q.reason
),

-- the records of each file as the runner's scan counted them (a malformed one too), not Spark's
rows_read as (
    {%- for file in staging_models %}
    select '{{ file }}' as source, coalesce(max(_file_records), 0) as rows_read
    from {{ source('raw', file) }}
    union all
    {%- endfor %}
    select 'population', min(rows_kept) from checks where source = 'lk_onboarding'
),

waterfall as (
    select
        c.*,
        case when c.informational then c.rows_in else coalesce(
            lag(c.rows_kept) over (
                partition by c.source, c.informational order by c.rows_in desc, c.rows_kept desc
            ),
            r.rows_read
        ) end as expected_rows_in
    from checks as c
    left join rows_read as r
        on c.source = r.source
)

select *
from waterfall
where {{ differs('rows_quarantined', 'quarantined_rows') }}
    or {{ differs('rows_in', 'expected_rows_in') }}
    or (`check` != 'identical_duplicate' and not coalesce(
        rows_in = rows_kept + if(source = 'population', users_excluded, rows_quarantined), false))
