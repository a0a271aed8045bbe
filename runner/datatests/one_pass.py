"""The one query that counts the failing rows of several generic tests of a model.

Each test contributes one aggregate, `f<i>`, equal to the number of rows its own query returns:
`count_if` for row conditions (not_null, expression), `count(distinct ...)` for tests that
return one row per value (accepted_values), and, for tests that return one row per duplicated
group (unique, unique_combination_of_columns), a window count per group beside each row of the
one scan, so the model (often a view recomputed on every read) is read once:

    select count_if(`id` is null) as `f0`,
           count(distinct case when `__runner_n1` > 1 and (`id` is not null) then `id` end) as `f1`
    from (select *, count_if(`id` is not null) over (partition by `id`) as `__runner_n1`
          from `users`) as `users`
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.datatests.generic import FailureCount

GROUP_ROWS = "__runner_n"  # + index: the rows of a row's group meeting the test's condition


def build_count_query(model: str, counts: Sequence[FailureCount]) -> str:
    """One SELECT over `model` whose column `f<i>` is the failure count of `counts[i]`.

    The inner select keeps the model's name as its alias, so a condition that names the model
    (`users.rate > 0`) reads as it does in the test's own query.

    Example:
        >>> print(build_count_query("users", [FailureCount("`id` is null"),
        ...                                   FailureCount("`g` not in (1)", distinct="`g`")]))
        select count_if(`id` is null) as `f0`, count(distinct case when `g` not in (1) then `g` end) as `f1`
        from `users`
    """  # noqa: E501
    columns = [f"{_aggregate(i, c)} as `f{i}`" for i, c in enumerate(counts)]
    windows = [
        f"count_if({c.condition}) over (partition by {', '.join(c.partition)}) as "
        f"`{GROUP_ROWS}{i}`"
        for i, c in enumerate(counts) if c.partition
    ]
    relation = f"`{model}`"
    if windows:
        relation = f"(select *, {', '.join(windows)} from `{model}`) as `{model}`"
    return f"select {', '.join(columns)}\nfrom {relation}"


def _aggregate(index: int, count: FailureCount) -> str:
    condition = count.condition
    if count.partition:
        condition = f"`{GROUP_ROWS}{index}` > 1 and ({condition})"
    if count.distinct is None:
        return f"count_if({condition})"
    return f"count(distinct case when {condition} then {count.distinct} end)"
