"""celeba_lab.collapse.bootstrap: the bootstrap interval, checked on a known mean."""

from __future__ import annotations

import numpy as np
import pytest

from celeba_lab import collapse as cc


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(42)
    p, n, repeats = 0.3, 200, 100
    covered = 0
    for seed in range(repeats):
        sample = (rng.random(n) < p).astype(float)
        estimate = cc.bootstrap_ci(sample, np.mean, n_boot=400, level=0.95, seed=seed)
        covered += estimate.low <= p <= estimate.high
    # Expected ~94 (the percentile interval runs slightly short); with 100 repeats the binomial
    # spread is about 2.3, so 86 is more than 3 standard deviations below.
    assert 86 <= covered <= 100
    # A lower level gives a narrower interval around the same point estimate.
    sample = (rng.random(n) < p).astype(float)
    wide = cc.bootstrap_ci(sample, np.mean, level=0.95)
    narrow = cc.bootstrap_ci(sample, np.mean, level=0.5)
    assert wide.value == narrow.value == sample.mean()
    assert wide.low < narrow.low < narrow.high < wide.high


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        cc.bootstrap_ci([], np.mean)
    with pytest.raises(ValueError, match="level"):
        cc.bootstrap_ci([1.0, 2.0], np.mean, level=1.5)


@pytest.mark.parametrize("n_boot, error", [(0, ValueError), (-5, ValueError), (2.5, ValueError),
                                           ("100", TypeError), (None, TypeError)])
def test_a_bootstrap_count_that_is_not_a_whole_number_of_at_least_one_is_named(n_boot, error):
    with pytest.raises(error, match=r"n_boot must be a whole number of at least 1"):
        cc.bootstrap_ci(np.arange(10.0), np.mean, n_boot=n_boot)
