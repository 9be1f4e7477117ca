"""Scores of a ranking: ranked pass@k, and pass@k with ties scored by expectation.

Ranked pass@k is "one of the top k ranked programs passes"; a task with fewer than k
programs counts all of them, and k is reported where at least one task ranked k programs.
A strategy whose ranking leaves ties (CodeT's consensus sets) is also scored the way
CodeT's evaluation scores a ranking: 1 - prod over the top k groups of (wrong samples /
samples in the group), or the unbiased pass@k over all samples when there is no consensus.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from codeloop.scoring.passk import pass_at_k


class RankedResult(Protocol):
    """What these scores read of one task's result (`codeloop.runs.report.TaskResult`)."""

    @property
    def ranked(self) -> Sequence[bool]:
        """Per ranked program, best first: it passes the last group of hidden tests."""
        ...

    @property
    def groups(self) -> Mapping[str, Sequence[bool]]:
        """Group -> per ranked program, best first: it passes that group."""
        ...

    @property
    def ties(self) -> Mapping[str, Mapping[str, float]]:
        """Group -> k -> pass@k with ties by expectation; empty without tie groups."""
        ...


def tie_pass_at(
    groups: list[list[tuple[int, int]]],
    no_consensus: bool,
    passed: Mapping[int, bool],
    ks: Iterable[int],
) -> dict[str, float]:
    """k -> pass@k of a ranking with ties, scored by expectation (CodeT's evaluation).

    One sample is drawn from each of the top k groups: pass@k = 1 - prod over those groups of
    (wrong samples / samples), duplicates counted as sampled.  With no consensus every sample
    is as likely: the unbiased pass@k over all samples (k capped at their number).
    `passed` maps a rank to its verdict; a rank without one counts as wrong.
    """
    out: dict[str, float] = {}
    if not groups:
        return out
    for k in ks:
        if no_consensus:
            (group,) = groups
            n = sum(samples for _rank, samples in group)
            c = sum(samples for rank, samples in group if passed.get(rank, False))
            out[str(k)] = pass_at_k(n, c, min(k, n))
            continue
        miss = 1.0
        for group in groups[:k]:
            n = sum(samples for _rank, samples in group)
            wrong = sum(samples for rank, samples in group if not passed.get(rank, False))
            miss *= wrong / n
        out[str(k)] = 1.0 - miss
    return out


def ties_pass_at(
    results: Sequence[RankedResult], groups: list[str], ranked: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """group -> k -> mean over finished tasks of pass@k with ties by expectation, for the k
    of the ranked table; a task without tie groups (an errored one, a strategy that ranks
    without ties) counts with its top-program figure.  Empty when no task had tie groups."""
    if not any(r.ties for r in results):
        return {}
    table: dict[str, dict[str, float]] = {}
    for name in groups:
        row: dict[str, float] = {}
        for k in ranked.get(name, {}):
            total = 0.0
            for r in results:
                if r.ties:
                    total += r.ties.get(name, {}).get(k, 0.0)
                else:
                    total += float(any(r.groups.get(name, [])[: int(k)]))
            row[k] = total / len(results)
        table[name] = row
    return table


def ranked_dropped_k(results: Sequence[RankedResult], ks: Iterable[int]) -> dict[str, str]:
    """k -> why `ranked_pass_at` leaves it out: no finished task ranked k programs."""
    if not results:
        return {}
    most = max((len(r.ranked) for r in results), default=0)
    noun = "program" if most == 1 else "programs"
    return {
        str(k): f"no task ranked more than {most} {noun}"
        for k in sorted(set(ks))
        if k > max(most, 1)
    }


def ranked_pass_at(
    results: Sequence[RankedResult], groups: list[str], ks: Iterable[int]
) -> dict[str, dict[str, float]]:
    """group -> k -> fraction of finished tasks where one of the top k programs passes.

    k is reported where some task yielded k programs; errored tasks count as failed.
    """
    most = max((len(r.ranked) for r in results), default=0)
    usable = [k for k in sorted(set(ks)) if k <= max(most, 1)]
    table: dict[str, dict[str, float]] = {}
    if not results:
        return table
    for name in groups:
        rows = [r.groups.get(name, []) for r in results]
        table[name] = {str(k): sum(any(row[:k]) for row in rows) / len(rows) for k in usable}
    return table
