"""The settings module and the atomic writes every cache relies on."""

from __future__ import annotations

import json

import pytest

from celeba_lab import _io, config


def test_profile_defaults_to_quick(monkeypatch, tmp_cache):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    assert config.get_profile().name == "quick"


def test_profile_from_environment(monkeypatch, tmp_cache):
    monkeypatch.setenv(config.PROFILE_ENV, "full")
    profile = config.get_profile()
    assert profile.classifier_sizes == (10_000, 2_000, 1_000)
    assert profile.classifier_epochs == 15 and profile.gan_epochs == 30
    assert profile.classifier_batch == 50 and profile.gan_batch == 32


def test_set_profile_overrides_environment(monkeypatch, tmp_cache):
    monkeypatch.setenv(config.PROFILE_ENV, "full")
    config.set_profile("quick")
    assert config.get_profile().name == "quick"


def test_profile_field_changes():
    assert config.get_profile("quick", gan_epochs=7).gan_epochs == 7
    assert config.get_profile("quick").gan_epochs != 7  # the stored profile is untouched


def test_profile_with_changed_fields_from_environment(monkeypatch, tmp_cache):
    spec = "full:classifier_epochs=1,gan_epochs=2,gan_steps_per_epoch=10"
    monkeypatch.setenv(config.PROFILE_ENV, spec)
    profile = config.get_profile()
    assert (profile.classifier_epochs, profile.gan_epochs, profile.gan_steps_per_epoch) == (1, 2, 10)
    # The rest is the full profile's: its data and sample sizes.
    assert profile.classifier_sizes == (10_000, 2_000, 1_000)
    assert profile.collapse_samples == config.PROFILES["full"].collapse_samples
    # Its name is not "full": nothing trained under it passes for the full profile.
    assert profile.name == spec
    assert config.PROFILES["full"].classifier_epochs == 15


def test_profile_changes_read_sizes_and_none():
    profile = config.get_profile("quick:classifier_sizes=200/20/10, natural_test_images=none")
    assert profile.classifier_sizes == (200, 20, 10) and profile.natural_test_images is None
    assert config.get_profile("full:natural_test_images=500").natural_test_images == 500


@pytest.mark.parametrize("spec, message", [
    ("full:epochs=1", r"epochs=1.*fields among.*classifier_epochs"),
    ("full:gan_epochs", r"field=value pairs"),
    ("full:gan_epochs=many", r"gan_epochs takes a whole number\."),
    ("full:gan_steps_per_epoch=x", r"a whole number or none"),
    ("full:gan_epochs=none", r"gan_epochs takes a whole number\."),
    ("full:classifier_sizes=100/10", r"sizes such as 10000/2000/1000"),
    ("fast:gan_epochs=1", r"Unknown profile 'fast'"),
])
def test_profile_changes_that_cannot_be_read_say_why(spec, message):
    with pytest.raises(ValueError, match=message):
        config.get_profile(spec)


@pytest.mark.parametrize("spec", ["full:gan_epochs=1,gan_epochs=2",
                                  "quick:gan_epochs=2, classifier_epochs=1, gan_epochs=2"])
def test_a_field_given_twice_in_a_profile_is_refused(spec, monkeypatch, tmp_cache):
    with pytest.raises(ValueError, match=r"gan_epochs is given twice in the profile.*once"):
        config.get_profile(spec)
    monkeypatch.setenv(config.PROFILE_ENV, spec)          # the same from the environment
    with pytest.raises(ValueError, match=r"gan_epochs is given twice"):
        config.get_profile()


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match=r"'quick'.*'full'|'full'.*'quick'"):
        config.get_profile("fast")


def test_data_root_and_cache(tmp_path, tmp_cache, monkeypatch):
    assert config.data_root() is None
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path / "celeba"))
    assert config.data_root() == tmp_path / "celeba"
    config.set_data_root(None)
    assert config.data_root() is None
    assert config.runs_dir().is_dir() and config.runs_dir().parent == tmp_cache


def test_atomic_file_write_is_all_or_nothing(tmp_path):
    target = tmp_path / "state.json"
    _io.write_json_atomic(target, {"epoch": 1})
    with pytest.raises(RuntimeError):
        with _io.atomic_path(target) as tmp:
            tmp.write_text('{"epoch": 2, "trunc')
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind


def test_atomic_directory_replaces_whole(tmp_path):
    target = tmp_path / "run"
    with _io.atomic_path(target, directory=True) as tmp:
        (tmp / "a.txt").write_text("first")
    with _io.atomic_path(target, directory=True) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_json_handles_numpy(tmp_path):
    import numpy as np

    path = _io.write_json_atomic(tmp_path / "m.json", {"acc": np.float32(0.5), "cm": np.eye(2)})
    assert json.loads(path.read_text()) == {"acc": 0.5, "cm": [[1.0, 0.0], [0.0, 1.0]]}


def test_training_progress_is_one_line_per_epoch_outside_a_terminal(monkeypatch):
    import io

    # A notebook's or a log file's stdout is no terminal: a redrawn progress bar would print a
    # line per batch there, so "auto" asks Keras for one line per epoch.
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert _io.keras_verbosity("auto") == 2

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdout", Terminal())
    assert _io.keras_verbosity("auto") == 1
    assert _io.keras_verbosity(0) == 0 and _io.keras_verbosity("1") == 1


@pytest.mark.parametrize("spec, message", [
    ("quick:classifier_epochs=-3", r"classifier_epochs.*at least 1"),
    ("quick:classifier_epochs=0", r"classifier_epochs.*at least 1"),
    ("quick:classifier_sizes=11/3/3", r"classifier_sizes.*even.*11"),
    ("quick:classifier_sizes=0/10/10", r"classifier_sizes.*at least 2"),
    ("quick:gan_steps_per_epoch=0", r"gan_steps_per_epoch.*at least 1"),
    ("quick:classifier_batch=0", r"classifier_batch.*at least 1"),
    ("quick:synthetic_images=2", r"synthetic_images.*at least 3"),
])
def test_profile_values_that_cannot_work_are_refused_at_once(spec, message):
    with pytest.raises(ValueError, match=message):
        config.get_profile(spec)


def test_profile_keyword_changes_are_checked_too():
    with pytest.raises(ValueError, match="gan_epochs.*at least 1"):
        config.get_profile("quick", gan_epochs=-1)


# ---------------------------------------------------------------------------------------------
# Which profile is in force, and saying so


def test_real_data_is_never_trained_on_the_quick_profile_by_default(tmp_path, monkeypatch,
                                                                     tmp_cache):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    assert config.get_profile().name == "quick"  # the synthetic set
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path / "celeba"))
    assert config.default_profile_name() == "full" and config.get_profile().name == "full"
    assert not config.profile_is_set()
    monkeypatch.setenv(config.PROFILE_ENV, "quick")  # asked for: then it is quick
    assert config.get_profile().name == "quick" and config.profile_is_set()


def _steps(profile):
    gan_steps = profile.gan_steps_per_epoch or 202_599 // profile.gan_batch
    clf_steps = profile.classifier_sizes[0] // profile.classifier_batch
    return profile.classifier_epochs * clf_steps, profile.gan_epochs * gan_steps


def test_colab_profile_lies_between_quick_and_full():
    quick, colab, full = (config.get_profile(n) for n in ("quick", "colab", "full"))
    assert colab.name == "colab"
    for q, c, f in zip(_steps(quick), _steps(colab), _steps(full)):
        assert q < c < f
    # The report's networks and batch sizes: only how much is trained changes.
    assert (colab.classifier_batch, colab.gan_batch) == (full.classifier_batch, full.gan_batch)
    assert config.get_profile("colab:gan_epochs=1").gan_epochs == 1


def test_training_announcement_is_one_line_naming_the_profile(monkeypatch, tmp_cache):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    line = config.training_announcement("Male, 5 epochs x 20 steps", data="synthetic CelebA",
                                        real=False)
    assert "\n" not in line
    assert line.startswith("celeba-lab: profile quick (synthetic CelebA, the default for it): "
                           "Male, 5 epochs x 20 steps; ")
    assert "CELEBA_LAB_PROFILE=colab or full" in line and "WARNING" not in line
    config.set_profile("quick")
    warned = config.training_announcement("GAN", data="real CelebA", real=True)
    assert "the default" not in warned and "WARNING: real data on the quick profile" in warned
    config.set_profile("full:gan_epochs=1")
    assert "profile full:gan_epochs=1 (real CelebA)" in config.training_announcement(
        "GAN", data="real CelebA", real=True)


def test_epoch_line_is_one_short_line_of_numbers():
    line = _io.format_epoch_line(1, 5, 20, 3.14159, {"loss": 0.693147, "accuracy": 0.5,
                                                    "history": [1, 2]})
    assert line == "epoch 2/5: 20 steps in 3.1 s; loss 0.6931, accuracy 0.5"
    assert _io.format_epoch_line(0, None, None, 1.0, {}) == "epoch 1: 1.0 s"


def test_one_line_per_epoch_replaces_keras_two_and_auto_is_one_line_per_run(monkeypatch):
    import io

    monkeypatch.setattr("sys.stdout", io.StringIO())  # a notebook: no terminal
    level, printers = _io.fit_verbosity(2)
    assert level == 0 and len(printers) == 1
    assert _io.one_line_per_run("auto") and _io.fit_verbosity("auto") == (0, [])
    assert not _io.one_line_per_run(2) and not _io.one_line_per_run(0)
    assert _io.fit_verbosity(0) == (0, [])
    assert _io.fit_verbosity(1) == (1, [])

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdout", Terminal())  # a terminal: Keras's progress bar
    assert not _io.one_line_per_run("auto") and _io.fit_verbosity("auto") == (1, [])


def test_run_line_says_how_long_and_the_last_epochs_numbers_only():
    history = {"loss": [0.69, 0.5, 0.2134], "val_accuracy": [0.5, 0.8, 0.91],
               "seconds": [60.0, 60.0, 65.4], "step_g_loss": [1.0, 2.0, 3.0, 4.0, 5.0]}
    line = _io.format_run_line(185.4, history)
    assert line == " -> 3 epochs in 3 min 05 s; last epoch: loss 0.2134, val_accuracy 0.91"
    assert "\n" not in line
    assert _io.format_run_line(7200.0, {"g_loss": [1.0] * 8}, start=5) == (
        " -> epochs 6-8 (resumed after epoch 5) in 2 h 00 min; last epoch: g_loss 1")
