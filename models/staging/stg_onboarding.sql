{{ config(persist=true) }}
{#- Every raw lk_onboarding row, parsed, with its quarantine reason (NULL = clean); `is_clean`
    marks the one row kept per clean user. The checks and their order are the catalogue's
    (macros/quarantine_rules.sql): its 'row' checks first, then the 'user' ones, which compare
    the rows of a user. -#}
{%- set raw_columns = ['row_index', 'unnamed_0', 'first_login_dt', 'week_year', 'user_id', 'habito',
    'habito_dt', 'activacion', 'activacion_dt', 'setup', 'setup_dt', 'return', 'return_dt'] -%}
{%- set ab_group_column = var('ab_group_column', none) -%}

-- the file as read: every value a string, kept whole in `raw` for the quarantine
with raw_rows as (
    select
        {{ row_key(raw_columns) }} as row_key,
        _file as source_file,
        {{ raw_struct(raw_columns) }} as raw,
        {%- if ab_group_column %}
        lower({{ clean_text(ab_group_column) }}) as ab_group_source
        {%- else %}
        cast(null as string) as ab_group_source
        {%- endif %}
    from {{ source('raw', 'lk_onboarding') }}
),

ids_cleaned as (
    select
        *,
        {{ unique_row_id('row_key') }} as row_id,
        {{ parse_int('raw.row_index') }} as source_row_index,
        {{ clean_text('raw.user_id') }} as user_id
    from raw_rows
),

-- the dates and flags, NULL when empty or unparseable
parsed as (
    select
        *,
        {{- parsed_columns('lk_onboarding') }}
    from ids_cleaned
),

row_checked as (
    select
        *,
        {{ quarantine_reason('lk_onboarding', 'row') }} as row_reason
    from parsed
),

-- how many different versions of the user passed the row checks: a version is the parsed row,
-- hashed with a null flag per value (a NULL differs from every value)
duplicates_flagged as (
    select
        *,
        size(collect_set(case when row_reason is null then xxhash64(
            {%- for column in ['user_id', 'first_login_dt', 'week_year', 'habito', 'habito_dt',
                'activacion', 'activacion_dt', 'setup', 'setup_dt', 'return', 'return_dt',
                'ab_group_source'] %}
            `{{ column }}` is null, `{{ column }}`{{ ',' if not loop.last }}
            {%- endfor %}
        ) end) over (partition by user_id)) as user_versions
    from row_checked
),

reasoned as (
    select
        *,
        coalesce(row_reason, {{ quarantine_reason('lk_onboarding', 'user') }}) as quarantine_reason
    from duplicates_flagged
),

-- identical clean rows collapse to one user: the first by file index is kept
ranked as (
    select
        *,
        quarantine_reason is null and row_number() over (
            partition by user_id
            order by quarantine_reason is null desc, source_row_index asc, row_id asc
        ) = 1 as is_first,
        -- coalesce: keeps the column NOT NULL, as max() is typed nullable
        coalesce(max(quarantine_reason is null) over (partition by user_id), false)
            as user_has_clean_row
    from reasoned
)

select
    row_id,
    source_file,
    -- clean rows' values are the parsed columns: only quarantined rows keep their raw copy
    case when quarantine_reason is not null then {{ raw_values(raw_columns, 'raw.') }} end as raw_values,
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
    -- the other copies are neither quarantined nor clean
    quarantine_reason is null and not is_first as is_duplicate_copy,
    is_first as is_clean,
    user_has_clean_row
from ranked
