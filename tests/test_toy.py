"""The 2-D toy: a plain GAN drops modes of the ring, packing recovers them (fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from celeba_lab import toy as T


def test_real_points_all_fall_on_their_modes_evenly():
    points = T.ring_of_gaussians(8000, seed=0)
    cells = T.mode_cells(points)
    assert (cells != T.OFF_RING).all()
    shares = cells.value_counts(normalize=True)
    assert len(shares) == T.MODES and shares.max() - shares.min() < 0.03
    assert T.mode_cells(np.zeros((1, 2))).tolist() == [T.OFF_RING]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="multiple of snapshots"):
        T.train_toy_gan(steps=10, snapshots=3)
    with pytest.raises(ValueError, match="multiple of pack"):
        T.train_toy_gan(pack=3, batch_size=256, steps=10, snapshots=1)
    with pytest.raises(ValueError, match="pack must be 1 or more"):
        T.toy_discriminator(pack=0)


@pytest.mark.parametrize("arguments, message", [
    (dict(batch_size=0), "batch_size must be a whole number of at least 1, got 0"),
    (dict(steps=2.5, snapshots=1), "steps must be a whole number .* got 2.5"),
    (dict(n_points=0), "n_points must be a whole number of at least 1, got 0"),
    (dict(learning_rate=float("nan")), "learning_rate must be a finite number above 0"),
    (dict(learning_rate=0), "learning_rate must be a finite number above 0, got 0"),
    (dict(seed=-1), "seed must be a whole number of at least 0, got -1"),
])
def test_impossible_training_arguments_name_themselves(arguments, message):
    # batch_size=0 returned an untrained run; a NaN learning rate NaN points.
    with pytest.raises((ValueError, TypeError), match=message):
        T.train_toy_gan(**{"steps": 2, "snapshots": 1, **arguments})


def test_points_that_diverged_are_refused_not_counted_as_a_collapse():
    run = T.train_toy_gan(steps=2, snapshots=1, n_points=50)
    run.points[0, :3] = np.nan          # what a diverged generator draws
    with pytest.raises(ValueError, match="3 points with NaN or infinite.*learning_rate"):
        T.toy_collapse_table(run)
    with pytest.raises(ValueError, match=r"\(n, 2\) array"):
        T.mode_cells(np.zeros((4, 3)))


def test_packing_shows_the_discriminator_several_samples_at_once():
    d = T.toy_discriminator(pack=4)
    assert d(np.zeros((8, 2), "float32")).shape == (2, 1)


@pytest.mark.slow
def test_the_plain_gan_drops_modes_and_packing_recovers_them():
    # The chapter's runs, seed for seed, and the chapter's own test of them. The exact mode count
    # varies with the CPU's floating-point order (6 on one machine, 7 on another), so the test
    # asserts what the chapter's sentence claims: modes dropped, all recovered, distance cut.
    plain = T.toy_collapse_table(T.train_toy_gan(pack=1, seed=0))
    packed = T.toy_collapse_table(T.train_toy_gan(pack=4, seed=0))
    assert plain["modes covered"].iloc[0] <= 2 and packed["modes covered"].iloc[0] <= 2
    assert plain["modes covered"].iloc[-1] < T.MODES
    second_half = slice(len(plain) // 2, None)
    assert (plain["TV"].iloc[second_half].mean()
            > packed["TV"].iloc[second_half].mean() + 0.05)
    assert packed["modes covered"].iloc[-1] == T.MODES
    assert packed["TV"].iloc[-1] < plain["TV"].iloc[-1] - 0.05
    floor = plain["noise floor"].iloc[0]
    assert plain["TV"].iloc[-1] > 3 * floor  # the collapse is far beyond sampling noise


def test_snapshots_count_each_modes_points_write_steps_plainly_and_keep_the_legend_off_modes():
    from celeba_lab.plots.toy import plot_toy_snapshots

    real = T.ring_of_gaussians(800, seed=0)
    # Six modes well held, mode 6 a few points (below a quarter of its share), mode 7 none.
    centres = T.ring_centres()
    thin = np.concatenate([np.repeat(centres[:6], 130, axis=0), np.repeat(centres[6:7], 10,
                                                                           axis=0)])
    run = T.ToyRun(pack=1, steps=[5000, 20000], points=np.stack([thin, thin]).astype("float32"),
                   real=real, seed=0)
    fig = plot_toy_snapshots({"plain": run})
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["step 5000: 6 of 8 modes",
                                               "step 20,000: 6 of 8 modes"]
    counts = [t.get_text() for t in axes[0].texts]
    assert counts == ["130"] * 6 + ["10", "0"]
    assert all(ax.get_legend() is None for ax in axes) and len(fig.legends) == 1
    # The legend sits below the panels, not over a mode.
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert all(legend.y1 <= ax.get_window_extent().y0 + 1 for ax in axes)
