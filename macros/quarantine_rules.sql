{#- The quarantine catalogue: every check a raw row of a source file meets, in the order it meets
    them. A row is quarantined with the reason of the first check it fails. The staging models,
    data_quality, quarantined_rows and the staging YAML's accepted_values tests all render from
    here, so adding a rule is one entry below (and its case in tests/reference.py, which the
    integration tests compare the marts with).

    `staging_models`: the staging model of each source file.
    `quarantine_rules`: per source file, its checks in order; each a dict of
      reason       the code in quarantine_reason (staging) and reason (quarantined_rows)
      step         'row'      decided from the row alone;
                   'user'     after the staging model has compared the user's rows (onboarding)
                              or looked the user up in the onboarding (transactions);
                   'collapse' drops copies without quarantining them (staging's is_duplicate_copy);
                   'flag'     counted by data_quality only, every row kept;
                   'field'    the field is set to NULL and the row kept; data_quality counts the
                              kept rows (staging's nulled_fields lists the row's 'field' checks).
                   The 'row' checks come first, then the 'user' ones; 'field' checks stand
                   apart (listed last): they quarantine nothing.
      condition    Spark SQL, true = quarantine, over the staging model's parsed columns: `raw`
                   (the file's strings as a struct, incl. _corrupt_record and _line, the line
                   the record starts on), `user_id` (trimmed),
                   each parsed column under its own name, and the 'user' step's own columns
                   (onboarding: user_versions; transactions: is_onboarded_user)
      column,parse an unparseable_<column> check: the staging model parses raw.<column> as
                   `parse` (cleaning.sql's parse_value); the check fails when the file has a
                   value that does not parse
      description  what the check means (data_quality.description)

    Top-level variables of a macro file are globals of every model; these call cleaning.sql's
    macros, which load first (macro files load in name order). -#}

{%- set staging_models = {
    'lk_onboarding': 'stg_onboarding',
    'dim_users': 'stg_users',
    'bt_users_transactions': 'stg_transactions',
} -%}

{%- set _malformed_record = {
    'reason': 'malformed_record', 'step': 'row',
    'condition': 'raw._corrupt_record is not null',
    'description': 'record the CSV parser could not split into the declared columns'} -%}
{%- set _malformed_user_id = {
    'reason': 'malformed_user_id', 'step': 'row',
    'condition': 'not ' ~ user_id_is_valid('user_id'),
    'description': 'user_id does not match ' ~ var('user_id_pattern')} -%}
{%- set _onboarding_date = 'is not a YYYY-MM-DD[ 00:00:00] date' -%}

{%- set quarantine_rules = {
    'lk_onboarding': [
        _malformed_record,
        _malformed_user_id,
        {'reason': 'unparseable_first_login_dt', 'step': 'row', 'column': 'first_login_dt',
         'parse': 'date', 'description': 'first_login_dt ' ~ _onboarding_date},
        {'reason': 'unparseable_week_year', 'step': 'row', 'column': 'week_year',
         'parse': 'int', 'description': 'week_year is not an integer'},
        {'reason': 'unparseable_habito', 'step': 'row', 'column': 'habito',
         'parse': 'flag', 'description': 'habito is not a 0/1 flag'},
        {'reason': 'unparseable_habito_dt', 'step': 'row', 'column': 'habito_dt',
         'parse': 'date', 'description': 'habito_dt ' ~ _onboarding_date},
        {'reason': 'unparseable_activacion', 'step': 'row', 'column': 'activacion',
         'parse': 'flag', 'description': 'activacion is not a 0/1 flag'},
        {'reason': 'unparseable_activacion_dt', 'step': 'row', 'column': 'activacion_dt',
         'parse': 'date', 'description': 'activacion_dt ' ~ _onboarding_date},
        {'reason': 'unparseable_setup', 'step': 'row', 'column': 'setup',
         'parse': 'flag', 'description': 'setup is not a 0/1 flag'},
        {'reason': 'unparseable_setup_dt', 'step': 'row', 'column': 'setup_dt',
         'parse': 'date', 'description': 'setup_dt ' ~ _onboarding_date},
        {'reason': 'unparseable_return', 'step': 'row', 'column': 'return',
         'parse': 'flag', 'description': 'return is not a 0/1 flag'},
        {'reason': 'unparseable_return_dt', 'step': 'row', 'column': 'return_dt',
         'parse': 'date', 'description': 'return_dt ' ~ _onboarding_date},
        {'reason': 'missing_first_login_dt', 'step': 'row',
         'condition': 'first_login_dt is null',
         'description': 'no first_login_dt: the onboarding window has no start'},
        {'reason': 'conflicting_duplicate', 'step': 'user',
         'condition': 'user_versions > 1',
         'description': 'several rows for one user_id that differ after normalisation: all quarantined'},
        {'reason': 'date_before_first_login', 'step': 'user',
         'condition': 'return_dt < first_login_dt or activacion_dt < first_login_dt'
            ~ ' or setup_dt < first_login_dt or habito_dt < first_login_dt',
         'description': 'return_dt, activacion_dt, setup_dt or habito_dt earlier than first_login_dt'},
        {'reason': 'identical_duplicate', 'step': 'collapse',
         'description': 'rows identical after normalisation collapsed to one per user (not quarantined)'},
    ],
    'dim_users': [
        _malformed_record,
        _malformed_user_id,
        {'reason': 'unparseable_type', 'step': 'row', 'column': 'type',
         'parse': 'int', 'description': 'type is not an integer'},
        {'reason': 'unparseable_rubro', 'step': 'row', 'column': 'rubro',
         'parse': 'int', 'description': 'rubro is not an integer'},
        {'reason': 'unparseable_birth_dt', 'step': 'field', 'column': 'birth_dt',
         'parse': 'date',
         'description': 'birth_dt is not a YYYY-MM-DD date: set to NULL, the row kept (no rule uses it)'},
    ],
    'bt_users_transactions': [
        _malformed_record,
        _malformed_user_id,
        {'reason': 'unparseable_transaction_dt', 'step': 'row', 'column': 'transaction_dt',
         'parse': 'timestamp',
         'description': 'transaction_dt is not a YYYY-MM-DD HH:MM:SS[.f] timestamp'},
        {'reason': 'unparseable_type', 'step': 'row', 'column': 'type',
         'parse': 'int', 'description': 'type is not an integer'},
        {'reason': 'unparseable_segment', 'step': 'row', 'column': 'segment',
         'parse': 'int', 'description': 'segment is not an integer'},
        {'reason': 'missing_transaction_dt', 'step': 'row',
         'condition': 'transaction_dt is null',
         'description': 'no transaction_dt'},
        {'reason': 'unknown_user', 'step': 'user',
         'condition': 'not is_onboarded_user',
         'description': 'user_id absent from the clean onboarding'},
        {'reason': 'identical_transaction_rows', 'step': 'flag',
         'description': 'copies of another clean row (same user, timestamp, type, segment): kept, there is no transaction id'},
    ],
} -%}


{% macro quarantine_reason(source, step) -%}
{#- The reason of the first `step` check of `source` the row fails; NULL when it passes them. -#}
case
    {%- for rule in quarantine_rules[source] if rule.step == step %}
    when {{ rule_condition(rule) }} then '{{ rule.reason }}'
    {%- endfor %}
end
{%- endmacro %}


{% macro rule_condition(rule) -%}
{%- if 'parse' in rule -%}
{{ clean_text('raw.`' ~ rule.column ~ '`') }} is not null and `{{ rule.column }}` is null
{%- else -%}
{{ rule.condition }}
{%- endif -%}
{%- endmacro %}


{% macro nulled_fields(source) -%}
{#- The 'field' checks of `source` the row fails, as array<string> (empty when none): those
    columns are NULL in place of the file's value. -#}
{%- set rules = quarantine_rules[source] | selectattr('step', 'equalto', 'field') | list -%}
{%- if rules -%}
array_compact(array(
    {%- for rule in rules %}
    case when {{ rule_condition(rule) }} then '{{ rule.reason }}' end{{ ',' if not loop.last }}
    {%- endfor %}
))
{%- else -%}
cast(array() as array<string>)
{%- endif -%}
{%- endmacro %}


{% macro parsed_columns(source) -%}
{#- `<column>` for each column of `source` an unparseable_ check reads: raw.<column> parsed. -#}
{%- for rule in quarantine_rules[source] if 'parse' in rule %}
        {{ parse_value('raw.`' ~ rule.column ~ '`', rule.parse) }} as `{{ rule.column }}`{{ ',' if not loop.last }}
{%- endfor %}
{%- endmacro %}


{% macro quarantine_reasons(source) -%}
{#- The reasons a row of `source` can be quarantined with, as SQL string literals. -#}
{%- for rule in quarantine_rules[source] if rule.step in ('row', 'user') -%}
'{{ rule.reason }}'{{ ', ' if not loop.last }}
{%- endfor -%}
{%- endmacro %}


{% macro quarantine_sources() -%}
{#- The source files, as SQL string literals. -#}
{%- for source in staging_models -%}
'{{ source }}'{{ ', ' if not loop.last }}
{%- endfor -%}
{%- endmacro %}
