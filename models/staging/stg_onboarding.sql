{{ config(persist=true) }}
{#- Every raw onboarding row, parsed, with its quarantine reason (NULL = clean).
    `is_clean` marks the one row kept per clean user. -#}
{%- set raw_columns = ['row_index', 'unnamed_0', 'first_login_dt', 'week_year', 'user_id', 'habito',
    'habito_dt', 'activacion', 'activacion_dt', 'setup', 'setup_dt', 'return', 'return_dt'] -%}
{%- set typed_columns = {
    'first_login_dt': 'date', 'week_year': 'int', 'habito': 'flag', 'habito_dt': 'date',
    'activacion': 'flag', 'activacion_dt': 'date', 'setup': 'flag', 'setup_dt': 'date',
    'return': 'flag', 'return_dt': 'date'} -%}
{%- set ab_group_column = var('ab_group_column', none) -%}

with keyed as (
    {{ keyed_raw_rows(source('raw', 'lk_onboarding'), raw_columns) }}
),

parsed as (
    select
        {{ unique_row_id('row_key') }} as row_id,
        {{ parse_int('row_index') }} as source_row_index,
        _file as source_file,
        raw_values,
        {{ clean_text('user_id') }} as user_id,
        {%- for column, kind in typed_columns.items() %}
        {{ parse_value('`' ~ column ~ '`', kind) }} as `{{ column }}`,
        {%- endfor %}
        {%- if ab_group_column %}
        lower({{ clean_text(ab_group_column) }}) as ab_group_source,
        {%- else %}
        cast(null as string) as ab_group_source,
        {%- endif %}
        case
            {{- raw_row_reasons(typed_columns) }}
            when {{ clean_text('first_login_dt') }} is null then 'missing_first_login_dt'
        end as row_reason
    from keyed
),

normalised as (
    select
        *,
        -- the row's content after parsing: equal for rows that differ only in date format or index
        to_json(named_struct(
            'user_id', user_id,
            {%- for column in typed_columns %}
            '{{ column }}', `{{ column }}`,
            {%- endfor %}
            'ab_group_source', ab_group_source
        )) as normalised_row
    from parsed
),

versions as (
    select user_id, count(distinct normalised_row) as versions
    from normalised
    where row_reason is null
    group by user_id
),

reasoned as (
    select
        n.*,
        case
            when n.row_reason is not null then n.row_reason
            when v.versions > 1 then 'conflicting_duplicate'
            when n.return_dt < n.first_login_dt
                or n.activacion_dt < n.first_login_dt
                or n.setup_dt < n.first_login_dt
                or n.habito_dt < n.first_login_dt then 'date_before_first_login'
        end as quarantine_reason
    from normalised as n
    left join versions as v
        on n.user_id = v.user_id and n.row_reason is null
)

select
    row_id,
    source_file,
    raw_values,
    user_id,
    first_login_dt,
    week_year,
    habito,
    habito_dt,
    activacion,
    activacion_dt,
    setup,
    setup_dt,
    `return`,
    return_dt,
    ab_group_source,
    quarantine_reason,
    quarantine_reason is not null as is_quarantined,
    -- identical rows collapse to one user: the copies are neither quarantined nor clean
    quarantine_reason is null
        and row_number() over (
            partition by quarantine_reason, user_id
            order by source_row_index, row_id
        ) > 1 as is_duplicate_copy,
    quarantine_reason is null
        and row_number() over (
            partition by quarantine_reason, user_id
            order by source_row_index, row_id
        ) = 1 as is_clean
from reasoned
