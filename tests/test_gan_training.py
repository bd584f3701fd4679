"""Training runs of :mod:`celeba_lab.gan_training`: the monitor, history, checkpoints,
resuming, loading, the run folder's promises (nothing a user owns is deleted, a locked run is
never touched), the pictures of a run, and the small recipe's runs.

Run under each Keras backend: checkpoints hold the backend's optimizer and random states, and
training goes through the backend's train step.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from celeba_lab import batches as B
from celeba_lab import gan as G
from celeba_lab import gan_checkpoints as checkpoints
from celeba_lab import gan_images as images
from celeba_lab import gan_training as T
from celeba_lab import runs
from test_gan import WIDTH, blob_images, iterations


def small_run(run_dir, *, epochs=2, steps=3, seed=0, **kwargs) -> T.GANRun:
    return T.train_gan(blob_images(), epochs=epochs, batch_size=16, steps_per_epoch=steps,
                       recipe="report", width=WIDTH, seed=seed, run_dir=run_dir, verbose=0,
                       grid_size=8, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> T.GANRun:
    """A tiny GAN trained for 2 epochs of 3 steps, shared by the read-only tests."""
    return small_run(tmp_path_factory.mktemp("gan") / "run")


def test_interpolation_ends_at_both_vectors_and_slerp_keeps_the_norm():
    a, b = G.latent_noise(2, 64, seed=0)
    for method in ("linear", "spherical"):
        path = images.interpolate_latents(a, b, 7, method)
        assert path.shape == (7, 64)
        np.testing.assert_allclose(path[0], a, atol=1e-5)
        np.testing.assert_allclose(path[-1], b, atol=1e-5)
    linear = np.linalg.norm(images.interpolate_latents(a, b, 7, "linear"), axis=1)
    spherical = np.linalg.norm(images.interpolate_latents(a, b, 7, "spherical"), axis=1)
    # Two near-orthogonal Gaussian vectors: the line dips towards the centre, slerp does not.
    assert linear[3] < 0.85 * min(linear[0], linear[-1])
    assert spherical[3] > 0.95 * min(spherical[0], spherical[-1])



def test_stabiliser_names_are_checked_and_true_means_the_defaults():
    assert T.stabilisers(False) == ()
    assert T.stabilisers(True) == tuple(sorted(G.DEFAULT_STABILISERS))
    assert T.stabilisers("ttur") == ("ttur",)
    with pytest.raises(ValueError, match="Unknown stabiliser"):
        T.stabilisers(["spectral"])


def test_an_array_trains_through_image_batches_in_the_seed_and_epoch_order():
    # Image i is filled with the value i and its condition is i: every batch can be read back.
    images = np.repeat(np.arange(40, dtype=np.uint8), 32 * 32 * 3).reshape(40, 32, 32, 3)
    source = T._source(images, None, np.arange(40.0)[:, None], 32)
    batches = source.make_batches(8, 7, 3)      # 56 samples an epoch: 40 and 16 of a second draw
    assert isinstance(batches, B.ImageBatches) and len(batches) == 7
    resumed = source.make_batches(8, 7, 3)
    resumed.on_epoch_end()                      # a run resumed at epoch 1
    for epoch in (0, 1):
        rng = np.random.default_rng([3, epoch])
        order = np.concatenate([rng.permutation(40), rng.permutation(40)])[:56]
        for i in range(7):
            x, c = batches[i]
            seen = np.rint(x[:, 0, 0, 0] * 255).astype(int)
            assert sorted(seen) == sorted(order[i * 8:(i + 1) * 8])
            assert np.array_equal(c[:, 0], seen)    # each condition travels with its image
            if epoch == 1:
                np.testing.assert_array_equal(resumed[i][0], x)
        batches.on_epoch_end()
    assert len(source.make_batches(16, None, 0)) == 2  # full batches only: 40 // 16
    with pytest.raises(ValueError, match="40 images cannot fill one batch of 41"):
        source.make_batches(41, None, 0)



# ---------------------------------------------------------------------------------------------
# Runs: monitor, history, checkpoints, resuming, loading
# ---------------------------------------------------------------------------------------------

def test_run_folder_holds_grids_history_checkpoint_and_generator(trained):
    run = trained
    assert run.epochs_done == 2
    assert [p.name for p in run.grid_paths()] == ["epoch_001.png", "epoch_002.png"]
    epochs, grids = run.grids()
    assert epochs == [1, 2] and grids.shape == (2, 8, 64, 64, 3) and grids.dtype == np.uint8
    assert not np.array_equal(grids[0], grids[1])  # the generator changed between epochs
    for key in ("d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy"):
        assert len(run.history[key]) == 2 and np.all(np.isfinite(run.history[key]))
    assert len(run.history["step_d_loss"]) == 2 * 3
    # The epoch mean is the mean of that epoch's steps.
    assert np.mean(run.history["step_g_loss"][3:]) == pytest.approx(run.history["g_loss"][1],
                                                                    rel=1e-4)
    manifest = json.loads((run.run_dir / "checkpoint.json").read_text())
    assert manifest["epoch"] == 2 and manifest["optimizer_iterations"] == {"d": 6, "g": 6}
    assert [p.name for p in (run.run_dir / "checkpoints").iterdir()] == ["epoch_002"]
    assert (run.run_dir / "generator.keras").is_file()
    metadata = json.loads((run.run_dir / "metadata.json").read_text())
    assert metadata["epochs_done"] == 2 and metadata["backend"] == keras.backend.backend()


def test_history_orders_step_losses_reported_out_of_order():
    # JAX and PyTorch may call the history callback from several threads, out of order.
    history = {}
    callback = T._History(history)
    callback.on_epoch_begin(0)
    means = [(0, 1.0, 4.0), (1, 2.0, 3.0), (2, 3.0, 3.0)]   # running means after 1, 2, 3 steps
    for batch, d, g in (means[2], means[0], means[1]):
        callback.on_train_batch_end(batch, {"d_loss": d, "g_loss": g})
    callback.on_epoch_end(0, {"d_loss": 3.0, "g_loss": 3.0, "d_real_accuracy": 0.5,
                              "d_fake_accuracy": 0.5})
    assert history["step_d_loss"] == pytest.approx([1.0, 3.0, 5.0])
    assert history["step_g_loss"] == pytest.approx([4.0, 2.0, 3.0])
    assert history["d_loss"] == [3.0]


def test_training_callbacks_let_keras_queue_steps_ahead(tmp_path):
    # A callback that reads every step's loss on the training thread makes each step wait for
    # the last: on a thread-safe backend (JAX, PyTorch) Keras must dispatch them asynchronously.
    from keras.src import backend as keras_backend

    history_cb = T._History({})
    own = [history_cb, T._Monitor(tmp_path, np.zeros((1, G.LATENT_DIM)), None),
           runs.Checkpoint(checkpoints._folder(tmp_path), checkpoints._write_checkpoint,
                           history_cb.history)]
    callbacks = keras.callbacks.CallbackList(own)
    assert callbacks._async_train == keras_backend.IS_THREAD_SAFE


def test_saved_generator_and_run_load_back_identically(trained):
    noise = G.latent_noise(3, 64, seed=5)
    expected = G.generate_images(trained.generator, 3, noise=noise)
    loaded = T.load_generator(trained.run_dir)
    np.testing.assert_allclose(G.generate_images(loaded, 3, noise=noise), expected, atol=1e-6)
    run = T.load_gan_run(trained.run_dir)
    np.testing.assert_allclose(G.generate_images(run.generator, 3, noise=noise), expected,
                               atol=1e-6)
    assert iterations(run.gan.g_optimizer) == 6
    assert run.history == trained.history
    with pytest.raises(FileNotFoundError, match="generator.keras"):
        T.load_generator(trained.run_dir / "nothing")


def test_a_classifier_is_not_loaded_as_a_generator(tmp_path):
    from celeba_lab.classifiers import report_classifier

    report_classifier((32, 32, 3)).save(tmp_path / "model.keras")
    with pytest.raises(ValueError, match=r"output shape \(None, 2\), not a generator.*"
                                         "load_classifier"):
        T.load_generator(tmp_path / "model.keras")


def test_fixed_noise_grid_is_identical_for_the_same_seed(tmp_path):
    first = small_run(tmp_path / "a", epochs=1, steps=2, seed=4)
    again = small_run(tmp_path / "b", epochs=1, steps=2, seed=4)
    other = small_run(tmp_path / "c", epochs=1, steps=2, seed=5)
    np.testing.assert_array_equal(np.load(first.run_dir / "fixed_noise.npy"),
                                  np.load(again.run_dir / "fixed_noise.npy"))
    np.testing.assert_array_equal(first.grids()[1], again.grids()[1])
    assert not np.array_equal(first.grids()[1], other.grids()[1])


def test_a_finished_run_is_loaded_not_retrained(trained):
    sessions = len(json.loads((trained.run_dir / "metadata.json").read_text())["sessions"])
    began = time.perf_counter()
    again = small_run(trained.run_dir)
    assert len(again.metadata["sessions"]) == sessions  # no new training session
    assert again.history == trained.history
    assert time.perf_counter() - began < 30


def all_state(gan: G.DCGAN) -> list[np.ndarray]:
    """Weights, random-generator states and both optimizers' variables, in a fixed order."""
    variables = [*gan.variables, *gan.d_optimizer.variables, *gan.g_optimizer.variables]
    return [keras.ops.convert_to_numpy(v) for v in variables]


def test_a_checkpoint_restores_the_whole_training_state_exactly(tmp_path):
    live = small_run(tmp_path / "run", epochs=1)
    restored = T.load_gan_run(live.run_dir)
    saved, loaded = all_state(live.gan), all_state(restored.gan)
    assert len(saved) == len(loaded)
    for a, b in zip(saved, loaded):
        np.testing.assert_array_equal(a, b)


def test_resumed_training_continues_where_it_stopped(tmp_path):
    straight = small_run(tmp_path / "straight", epochs=2)
    first = small_run(tmp_path / "split", epochs=1)
    resumed = small_run(tmp_path / "split", epochs=2)
    assert [s["start_epoch"] for s in resumed.metadata["sessions"]] == [0, 1]
    # The optimizers' step counts continue from the checkpoint instead of restarting at 0.
    assert iterations(resumed.gan.d_optimizer) == iterations(resumed.gan.g_optimizer) == 6
    assert len(resumed.history["step_d_loss"]) == 6
    assert resumed.history["g_loss"][0] == first.history["g_loss"][0]
    # Epoch 1 is the same training in both runs; epoch 2 continues it closely. (Not bit for
    # bit: Keras prefetches batches across the epoch boundary, so which epoch's shuffle a
    # batch comes from depends on timing.)
    assert resumed.history["g_loss"][0] == straight.history["g_loss"][0]
    np.testing.assert_allclose(resumed.history["g_loss"][1], straight.history["g_loss"][1],
                               rtol=0.02)


def test_run_folder_of_other_settings_is_refused(trained):
    with pytest.raises(checkpoints.CheckpointError, match="other settings.*seed"):
        small_run(trained.run_dir, seed=9)


@pytest.mark.parametrize("damage", ["truncate optimizers", "delete generator weights",
                                    "corrupt manifest"])
def test_a_damaged_checkpoint_is_named_in_a_warning_and_trained_again(tmp_path, damage):
    # The policy of every run (a classifier's too): the loader raises, train_gan warns and
    # trains the run again from epoch 1; nothing is deleted before the new checkpoint.
    run = small_run(tmp_path / "run", epochs=1, steps=2)
    folder = run.run_dir / "checkpoints" / "epoch_001"
    if damage == "truncate optimizers":
        path = folder / "optimizers.npz"
        path.write_bytes(path.read_bytes()[:100])
        expected = "optimizers.npz is corrupt"
    elif damage == "delete generator weights":
        (folder / "generator.weights.h5").unlink()
        expected = "lacks .*generator.weights.h5"
    else:
        (run.run_dir / "checkpoint.json").write_text("{not json")
        expected = "checkpoint.json is corrupt"
    with pytest.raises(checkpoints.CheckpointError, match=expected) as error:
        T.load_gan_run(run.run_dir)
    assert str(run.run_dir) in str(error.value) and "train_gan(...) again" in str(error.value)
    with pytest.warns(RuntimeWarning, match=f"GAN run in .* is damaged: .*{expected}.*"
                                            "training it again from epoch 1"):
        again = small_run(run.run_dir, epochs=2, steps=2)
    assert [s["start_epoch"] for s in again.metadata["sessions"]] == [0, 0]
    assert again.epochs_done == 2 and iterations(again.gan.g_optimizer) == 4
    assert [p.name for p in (run.run_dir / "checkpoints").iterdir()] == ["epoch_002"]
    assert T.load_gan_run(run.run_dir).history == again.history


def test_a_full_disk_while_checkpointing_is_one_clear_error_and_keeps_the_last_checkpoint(
        tmp_path, monkeypatch):
    run = small_run(tmp_path / "run", epochs=1, steps=1)
    before = {p: p.read_bytes() for p in (run.run_dir / "checkpoints").rglob("*") if p.is_file()}
    manifest = (run.run_dir / "checkpoint.json").read_bytes()

    def disk_full(self, path, *args, **kwargs):  # what h5py raises on a full disk
        raise OSError(errno.ENOSPC, "Unable to synchronously write data (file write failed: "
                      "errno = 28, error message = 'No space left on device')")

    monkeypatch.setattr(keras.Model, "save_weights", disk_full)
    with pytest.raises(checkpoints.CheckpointError, match=re.escape(
            f"while writing the checkpoint of epoch 2 in {run.run_dir}. The last complete "
            "checkpoint is intact: free some space on that disk, then call train_gan(...) "
            "again with the same arguments to resume the run from it.")):
        small_run(run.run_dir, epochs=2, steps=1)
    assert (run.run_dir / "checkpoint.json").read_bytes() == manifest
    assert {p: p.read_bytes() for p in (run.run_dir / "checkpoints").rglob("*")
            if p.is_file()} == before  # no partial checkpoint left
    monkeypatch.undo()  # space freed: the run resumes after epoch 1
    resumed = small_run(run.run_dir, epochs=2, steps=1)
    assert [s["start_epoch"] for s in resumed.metadata["sessions"]] == [0, 1, 1]


def test_a_run_being_trained_by_another_process_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "training.lock").write_text(str(os.getppid()))  # a live process
    with pytest.raises(checkpoints.CheckpointError, match=f"Another process \\(pid {os.getppid()}\\)"):
        small_run(run_dir, epochs=1, steps=1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run_dir / "training.lock").write_text(str(dead.pid))  # a stale lock is taken over
    assert small_run(run_dir, epochs=1, steps=1).epochs_done == 1
    assert not (run_dir / "training.lock").exists()


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import keras
    sys.path.insert(0, {tests!r})
    from test_gan_training import small_run

    class SlowSecondEpoch(keras.callbacks.Callback):
        # Mark the moment training is inside epoch 2, then dawdle so the kill lands there.
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch >= 1:
                Path({marker!r}).touch()
                time.sleep(1.0)

    small_run({run_dir!r}, epochs=3, steps=6, callbacks=[SlowSecondEpoch()])
    Path({marker!r} + ".finished").touch()
""")


@pytest.mark.slow
def test_a_run_killed_inside_an_epoch_resumes_at_that_epoch(tmp_path):
    run_dir, marker = tmp_path / "run", tmp_path / "inside-epoch-2"
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), marker=str(marker),
                               run_dir=str(run_dir))
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert process.poll() is None, process.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the training process never reached epoch 2"
            time.sleep(0.2)
        manifest = json.loads((run_dir / "checkpoint.json").read_text())
        assert manifest["epoch"] == 1  # epoch 1 is saved; epoch 2 is under way
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert not Path(str(marker) + ".finished").exists()
    assert json.loads((run_dir / "checkpoint.json").read_text())["epoch"] == 1

    run = small_run(run_dir, epochs=3, steps=6)
    assert [s["start_epoch"] for s in run.metadata["sessions"]] == [0, 1]
    assert run.epochs_done == 3 and len(run.history["step_d_loss"]) == 3 * 6
    assert iterations(run.gan.d_optimizer) == iterations(run.gan.g_optimizer) == 3 * 6
    assert [p.name for p in run.grid_paths()] == [f"epoch_00{i}.png" for i in (1, 2, 3)]
    assert json.loads((run_dir / "checkpoint.json").read_text())["epoch"] == 3
    assert not list(run_dir.rglob("*.tmp*"))  # no half-written file was left behind



def test_checkpoint_keys_do_not_depend_on_attribute_names(trained):
    # random_state.npz stores the GAN's random states by position (s0000: its noise_seeds,
    # s0001: D's dropout), so checkpoints from before DCGAN.seed_generator was renamed
    # noise_seeds restore unchanged.
    folder = trained.run_dir / "checkpoints" / "epoch_002"
    with np.load(folder / "random_state.npz") as saved:
        assert saved.files == ["s0000", "s0001"]
        restored = T.load_gan_run(trained.run_dir).gan
        np.testing.assert_array_equal(saved["s0000"],
                                      keras.ops.convert_to_numpy(restored.noise_seeds.state))
    assert checkpoints._random_states(restored)[0] is restored.noise_seeds.state
    with np.load(folder / "optimizers.npz") as saved:
        assert all(key[0] in "dg" and key[1:].isdigit() for key in saved.files)


# ---------------------------------------------------------------------------------------------
# On the package's synthetic CelebA
# ---------------------------------------------------------------------------------------------

def test_train_gan_on_celeba_uses_the_cache_and_the_conditions(synthetic_data, tmp_cache):
    run = T.train_gan(synthetic_data, conditions=["Male", "Blond_Hair"], epochs=1,
                      batch_size=8, steps_per_epoch=2, recipe="report", width=WIDTH, verbose=0,
                      grid_size=4)
    assert run.run_dir.parent == tmp_cache / "runs" / "gans"
    assert run.run_dir.name.startswith("conditional-dcgan-")
    assert run.condition_names == ("Male", "Blond_Hair")
    conditions = np.load(run.run_dir / "fixed_conditions.npy")
    assert conditions.shape == (4, 2) and set(np.unique(conditions)) <= {0.0, 1.0}
    assert run.generate(3, conditions={"Male": 1}).shape == (3, 64, 64, 3)
    # Other settings, another folder; the same settings, the same folder.
    other = T.train_gan(synthetic_data, epochs=1, batch_size=8, steps_per_epoch=2,
                        recipe="report", width=WIDTH, verbose=0, grid_size=4)
    assert other.run_dir != run.run_dir and other.run_dir.name.startswith("dcgan-")



# ---------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------

def test_pictures_of_a_run(trained, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from PIL import Image

    from celeba_lab.plots import gan as P

    figures = [
        P.plot_epoch_grids(trained, faces=4),
        P.plot_gan_losses(trained.history),
        P.plot_samples(trained.generate(8), ncols=4, title="samples"),
        P.plot_latent_walk(trained.generator, steps=5),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert len(figures[0].axes) == 2  # one row per epoch
    assert len(figures[3].axes) == 10  # two walks of five faces
    for f in figures:
        plt.close(f)
    gif = P.animate_epoch_grids(trained, tmp_path / "grids.gif")
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames == 2
    assert P.show_animation(gif).format == "gif"


def test_conditional_samples_plot_has_a_row_per_combination():
    import matplotlib.pyplot as plt

    from celeba_lab.plots import gan as P

    gan = T.build_gan(width=WIDTH, conditions=["Male", "Blond_Hair"])
    fig = P.plot_conditional_samples(gan, [{"Male": 1}, {"Blond_Hair": 1}, {}], per_row=3)
    assert len(fig.axes) == 9
    plt.close(fig)
    with pytest.raises(ValueError, match="conditional"):
        P.plot_conditional_samples(T.build_gan(width=WIDTH), [{"Male": 1}])


# ---------------------------------------------------------------------------------------------
# Nothing a user owns is deleted; a locked run is never touched
# ---------------------------------------------------------------------------------------------

def test_resume_false_refuses_to_delete_a_folder_that_is_not_a_run(tmp_path):
    notes = tmp_path / "my-notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("three years of work")
    with pytest.raises(checkpoints.CheckpointError, match="not a GAN run.*thesis.txt"):
        small_run(notes, epochs=1, steps=1, resume=False)
    assert (notes / "thesis.txt").read_text() == "three years of work"


@pytest.mark.parametrize("resume", [True, False])
def test_a_folder_with_the_users_settings_and_metadata_is_refused(tmp_path, resume):
    # The names a GAN run writes, written by the user: a marker, not a name, makes a run.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "settings.json").write_text(json.dumps({"lr": 0.1}))
    (mine / "metadata.json").write_text(json.dumps({"author": "me"}))
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    with pytest.raises(checkpoints.CheckpointError,
                       match="not a GAN run of celeba_lab.*metadata.json, settings.json"):
        small_run(mine, epochs=1, steps=1, resume=resume)
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before


def test_a_classifier_run_folder_is_not_taken_for_a_gan_run(tmp_path):
    from celeba_lab import runs

    run_dir = tmp_path / "classifier"
    R = runs.RunFolder(run_dir, kind="classifier")
    with R.claim(None):
        pass
    with pytest.raises(checkpoints.CheckpointError, match="holds a classifier of celeba_lab, "
                                                          "not a GAN run"):
        small_run(run_dir, epochs=1, steps=1, resume=False)
    assert [p.name for p in run_dir.iterdir()] == [runs.MARKER]


@pytest.mark.parametrize("arguments, message", [
    (dict(latent_dim=0), "latent_dim must be a whole number of at least 1, got 0"),
    (dict(width=0), "width must be a finite number above 0, got 0"),
    (dict(width=float("nan")), "width must be a finite number above 0, got nan"),
    (dict(grid_size=0), "grid_size must be a whole number of at least 1, got 0"),
    (dict(ids=[]), "ids is empty"),
    (dict(seed=1.5), "seed must be a whole number of at least 0, got 1.5"),
    (dict(seed="0"), "seed must be a whole number of at least 0, not '0'"),
    (dict(seed=-1), "seed must be a whole number of at least 0, got -1"),
])
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, arguments, message):
    # latent_dim=0 aborted the interpreter (oneDNN) and left a lock and settings behind.
    with pytest.raises((ValueError, TypeError), match=message):
        T.train_gan(blob_images(), **{**dict(epochs=1, batch_size=16, steps_per_epoch=1,
                                             width=WIDTH, run_dir=tmp_path / "run",
                                             verbose=0, grid_size=8), **arguments})
    assert not (tmp_path / "run").exists()


def test_resume_false_keeps_files_the_package_did_not_write(tmp_path):
    run = small_run(tmp_path / "run", epochs=1, steps=1)
    (run.run_dir / "notes.txt").write_text("mine")
    fresh = small_run(run.run_dir, epochs=1, steps=1, resume=False)
    assert fresh.metadata["sessions"][0]["start_epoch"] == 0
    assert (run.run_dir / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("resume", [True, False])
def test_a_locked_run_is_left_untouched(tmp_path, resume):
    run = small_run(tmp_path / "run", epochs=1, steps=1)
    # The running process's half-written checkpoint, and its lock.
    temp = run.run_dir / ".checkpoint.json.abc123.tmp.json"
    temp.write_text("{")
    (run.run_dir / "training.lock").write_text(str(os.getppid()))  # a live process
    before = sorted(p.relative_to(run.run_dir) for p in run.run_dir.rglob("*"))
    with pytest.raises(checkpoints.CheckpointError, match="Another process"):
        small_run(run.run_dir, epochs=2, steps=1, resume=resume)
    assert sorted(p.relative_to(run.run_dir) for p in run.run_dir.rglob("*")) == before
    assert temp.read_text() == "{"


def test_a_corrupt_saved_generator_is_rewritten_and_reported(tmp_path, capsys):
    run = small_run(tmp_path / "run", epochs=1, steps=1)
    path = run.run_dir / "generator.keras"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(checkpoints.CheckpointError, match="generator.keras.*train_gan"):
        T.load_generator(run.run_dir)
    again = small_run(run.run_dir, epochs=1, steps=1)
    assert "generator.keras" in capsys.readouterr().out
    noise = G.latent_noise(2, seed=3)
    np.testing.assert_allclose(
        T.load_generator(run.run_dir).predict(noise, verbose=0),
        again.generator.predict(noise, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("argument, value", [("epochs", 1.7), ("epochs", 0),
                                             ("batch_size", 0), ("steps_per_epoch", 0)])
def test_impossible_epochs_batches_and_steps_are_refused(tmp_path, argument, value):
    settings = {"epochs": 1, "batch_size": 16, "steps_per_epoch": 1, argument: value}
    with pytest.raises(ValueError, match=f"{argument} must be a whole number"):
        T.train_gan(blob_images(8), recipe="report", width=WIDTH, run_dir=tmp_path / "run",
                    verbose=0, **settings)
    assert not (tmp_path / "run").exists()


def test_training_announces_the_profile_then_one_line_per_epoch(tmp_path, capsys):
    T.train_gan(blob_images(32), recipe="report", epochs=2, batch_size=16, steps_per_epoch=1,
                width=WIDTH, run_dir=tmp_path / "run", verbose=2, grid_size=4)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("celeba-lab: profile ")
    assert "run (report recipe), 2 epochs x 1 steps of 16 images" in lines[0]
    assert "an array of 32 images" in lines[0] and "WARNING" not in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == ["epoch 1/2", "epoch 2/2"]
    assert "d_loss" in lines[1] and "━" not in "".join(lines)
    T.train_gan(blob_images(32), recipe="report", epochs=2, batch_size=16, steps_per_epoch=1,
                width=WIDTH, run_dir=tmp_path / "run", verbose=2, grid_size=4)
    assert capsys.readouterr().out == ""  # loaded, not trained: nothing announced


def test_training_in_a_notebook_is_one_line_per_run_resumed_or_not(tmp_path, capsys):
    # pytest's captured stdout is no terminal, as a notebook's: "auto" prints one line a run.
    T.train_gan(blob_images(32), recipe="report", epochs=2, batch_size=16, steps_per_epoch=1,
                width=WIDTH, run_dir=tmp_path / "run", grid_size=4)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("celeba-lab: profile ") and " -> 2 epochs in " in lines[0]
    assert "g_loss" in lines[0] and "step_" not in lines[0] and "epoch 1/2" not in lines[0]
    T.train_gan(blob_images(32), recipe="report", epochs=3, batch_size=16, steps_per_epoch=1,
                width=WIDTH, run_dir=tmp_path / "run", grid_size=4)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    assert " -> epoch 3 (resumed after epoch 2) in " in lines[0]


def test_a_run_remembers_its_recipe_and_its_untrained_network(tmp_path):
    images = blob_images(32)[:, ::2, ::2]  # 32 x 32
    run = T.train_gan(images, recipe="small", width=WIDTH, epochs=1, batch_size=16,
                      steps_per_epoch=2, run_dir=tmp_path / "run", verbose=0, grid_size=4)
    assert run.recipe.name == "small" and run.image_size == 32
    assert json.loads((run.run_dir / "settings.json").read_text())["recipe"] == "small"
    untrained = run.untrained_generator()
    fresh = T.build_gan(recipe="small", width=WIDTH).generator
    noise = G.latent_noise(4, seed=5)

    def draw(generator):
        return G.generate_images(generator, 4, noise=noise)

    np.testing.assert_allclose(draw(untrained), draw(fresh), rtol=1e-5, atol=1e-6)
    # Two steps moved the trained generator away from where it started.
    assert not np.allclose(draw(run.generator), draw(fresh))
    loaded = T.train_gan(images, recipe="small", width=WIDTH, epochs=1, batch_size=16,
                         steps_per_epoch=2, run_dir=tmp_path / "run", verbose=0, grid_size=4)
    assert loaded.recipe.name == "small" and loaded.generate(2).shape == (2, 32, 32, 3)
    np.testing.assert_allclose(loaded.generate_untrained(4, seed=5), draw(fresh),
                               rtol=1e-5, atol=1e-6)


def test_a_recorded_run_loads_only_for_its_own_call(trained, tmp_path, capsys):
    folder = T.record_gan_run(trained, tmp_path / "recorded", machine="test").parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "discriminator.weights.h5", "generator.weights.h5", "recording.json"]
    loaded = small_run(tmp_path / "unused", recorded=folder)
    assert loaded.run_dir == folder and not (tmp_path / "unused").exists()  # nothing trained
    assert loaded.metadata["recorded"]["machine"] == "test"
    assert loaded.history == trained.history
    np.testing.assert_allclose(loaded.generate(4, seed=2), trained.generate(4, seed=2),
                               rtol=1e-5, atol=1e-6)
    capsys.readouterr()
    # Another seed, or other epochs: the recording does not apply; the GAN trains and says why.
    other = small_run(tmp_path / "other", seed=1, recorded=folder)
    assert "does not apply (its seed differ" in capsys.readouterr().out
    assert other.run_dir == tmp_path / "other" and (other.run_dir / "generator.keras").exists()
    small_run(tmp_path / "longer", epochs=3, recorded=folder)
    assert "its epochs differ" in capsys.readouterr().out
    # A damaged weights file is never loaded.
    weights = folder / "generator.weights.h5"
    weights.write_bytes(weights.read_bytes()[:-10])
    assert small_run(tmp_path / "damaged", recorded=folder).run_dir == tmp_path / "damaged"
    assert "generator.weights.h5 is corrupt (its checksum" in capsys.readouterr().out
    # Recording again replaces the package's own recording, and nothing else.
    T.record_gan_run(trained, folder)
    assert small_run(tmp_path / "unused", recorded=folder).run_dir == folder


def test_a_recording_never_overwrites_or_invents(trained, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="did not write"):
        T.record_gan_run(trained, mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    with pytest.raises(FileNotFoundError, match="recording.json.*record_gan_run"):
        small_run(tmp_path / "run", recorded=mine)
    assert not (tmp_path / "run").exists()


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch, logs=None):
        self.model.stop_training = batch + 1 >= self.steps


@pytest.mark.slow
@pytest.mark.parametrize("folder", sorted(Path(__file__).parents[1].glob("book/recorded/*/")),
                         ids=lambda p: p.name)
def test_the_books_recorded_runs_match_the_code(folder, tmp_cache, tmp_path, monkeypatch):
    """A recording committed with the book is what this code trains: the chapter's call loads
    it (same data fingerprint and settings under its profile), and the code's first steps
    repeat the recorded ones. Otherwise: `make record-gans`."""
    from celeba_lab import config

    recording = json.loads((folder / "recording.json").read_text())
    settings = recording["settings"]
    config.set_profile(recording["recorded"]["profile"])
    assert settings["conditions"] == []  # chapters record unconditional runs only
    call = dict(stabilise=settings["stabilise"], recipe=settings["recipe"],
                width=settings["width"], seed=settings["seed"],
                batch_size=settings["batch_size"], latent_dim=settings["latent_dim"],
                steps_per_epoch=settings["steps_per_epoch"], grid_size=settings["grid_size"])

    def never_trains(*args, **kwargs):
        raise AssertionError(f"{folder} does not match this code's settings: make record-gans")

    with monkeypatch.context() as patch:
        patch.setattr(T, "_run", never_trains)
        loaded = T.train_gan(recorded=folder, verbose=0, **call)
    assert loaded.generate(2).shape[1:] == (loaded.image_size, loaded.image_size, 3)
    steps = 3
    fresh = T.train_gan(epochs=1, run_dir=tmp_path / "run", verbose=0,
                        callbacks=[_StopAfter(steps)], **call)
    for key in ("step_d_loss", "step_g_loss"):
        np.testing.assert_allclose(fresh.history[key][:steps], recording["history"][key][:steps],
                                   rtol=1e-3, err_msg=f"{key}: make record-gans")
