"""The classifier's run folders: resumable fits with per-epoch checkpoints, finished and
unfinished runs, damaged files trained again, a busy run left alone, and runs saved under the
report recipe's old name ("seed") found under its new one."""

from __future__ import annotations

import errno
import json
import os
import re

import keras
import numpy as np
import pytest

from celeba_lab import classifier_runs as R
from celeba_lab import classifiers as C
from classifier_helpers import (  # noqa: E402  (tests/ is on sys.path under pytest)
    SMALL, TINY, ArrayBatches, _one_hot, _Stop, _StopAfterEpoch, _toy_images,
    tiny_sets)



def files_of(folder):
    """Every file in ``folder``, by its path there (``checkpoints/epoch_001/model.keras``)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ------------------------------------------------------------------------------------------
# Run folder names: the same settings keep the same folder (a reader's finished runs)


def test_run_folder_names_are_those_the_package_gave_before_runs_py():
    # Computed with classifier_runs._digest before it became runs.fingerprint: a finished run
    # in a reader's cache must be found, not trained again.
    settings = {"attribute": "Male", "recipe": "report", "recipe_version": 1,
                "data_fingerprint": "synthetic-v3-abc", "sizes": [100, 20, 20], "epochs": 15,
                "batch_size": 50, "seed": 0, "image_size": [218, 178],
                "sample": "0123456789abcdef"}
    assert R.classifier_run_dir("Male", "report", settings).name == "report-Male-1a464f6bf0"
    assert R.classifier_run_dir("Male", "report", {"epochs": 15}).name == "report-Male-0af8eb5b1a"

    class Sample:
        def split(self, name):
            import pandas as pd

            return {"train": pd.Series([1, -1], index=["000001.jpg", "000002.jpg"]),
                    "validation": pd.Series([1], index=["000003.jpg"]),
                    "test": pd.Series([-1], index=["000004.jpg"])}[name]

    assert R._sample_digest(Sample()) == "5369e4fb3f16e959"


# ------------------------------------------------------------------------------------------
# Resumable fit


def test_interrupted_fit_resumes_from_the_next_epoch(tmp_path):
    x, y = _toy_images(32)
    train, validation = ArrayBatches(x, _one_hot(y)), ArrayBatches(x[:16], _one_hot(y[:16]))
    settings = {"what": "toy"}

    keras.utils.set_random_seed(0)
    with pytest.raises(_Stop):
        R.fit_resumable(C.report_classifier(SMALL), train, validation, epochs=4, run_dir=tmp_path,
                        settings=settings, verbose=0, callbacks=[_StopAfterEpoch(2)])
    # The manifest and the layout of every run's checkpoints (a GAN's too).
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    assert state["folder"] == "checkpoints/epoch_002"
    assert list(state["files"]) == ["model.keras"]  # with its SHA-256
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["epoch_002"]
    saved = keras.saving.load_model(tmp_path / "checkpoints" / "epoch_002" / "model.keras")

    started = []

    class RecordEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    model, history, first = R.fit_resumable(
        C.report_classifier(SMALL), train, validation, epochs=4, run_dir=tmp_path,
        settings=settings, verbose=0, callbacks=[RecordEpochs()])
    assert first == 2 and started == [2, 3]  # 0-based: epochs 3 and 4
    assert len(history["loss"]) == len(history["val_accuracy"]) == 4
    assert history["loss"][:2] == state["history"]["loss"]
    # The resumed model started from the checkpoint, optimizer state included.
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4 * len(train)
    assert int(keras.ops.convert_to_numpy(saved.optimizer.iterations)) == 2 * len(train)


def test_fit_with_other_settings_refuses_the_checkpoint_and_starts_over_only_if_told(tmp_path):
    x, y = _toy_images(16)
    train = ArrayBatches(x, _one_hot(y))
    with pytest.raises(_Stop):
        R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=2, run_dir=tmp_path,
                        settings={"a": 1}, verbose=0, callbacks=[_StopAfterEpoch(1)])
    before = files_of(tmp_path)
    with pytest.raises(R.ClassifierError, match=r"other settings \(differences: a\).*"
                                                 r"resume=False"):
        R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=2, run_dir=tmp_path,
                        settings={"a": 2}, verbose=0)
    assert files_of(tmp_path) == before
    _, history, first = R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=1,
                                        run_dir=tmp_path, settings={"a": 2}, verbose=0,
                                        resume=False)
    assert first == 0 and len(history["loss"]) == 1


# ------------------------------------------------------------------------------------------
# Finished and unfinished runs


def test_a_run_that_stopped_is_not_loaded_as_finished(tmp_path):
    (tmp_path / "checkpoint.json").write_text(json.dumps({"epoch": 2, "epochs": 15}))
    with pytest.raises(R.ClassifierNotFoundError, match="epoch 2 of 15"):
        C.load_classifier(tmp_path)


def test_a_corrupt_model_file_is_reported(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"not a zip file")
    with pytest.raises(R.CorruptClassifierError, match="train again"):
        C.load_classifier(tmp_path)


def test_a_generator_loaded_as_a_classifier_is_named(tmp_path):
    from celeba_lab import gan as G

    G.report_generator(width=0.125).save(tmp_path / "model.keras")
    with pytest.raises(R.ClassifierError, match="not an attribute classifier.*load_generator"):
        C.load_classifier(tmp_path)


# ------------------------------------------------------------------------------------------
# On the synthetic CelebA


@pytest.mark.slow
def test_train_save_load_and_reuse(tmp_cache, synthetic_data):
    trained = C.train_classifier("Male", synthetic_data, sizes=(100, 20, 20), epochs=1,
                                 verbose=0)
    assert trained.origin == "trained" and trained.epochs == 1
    files = sorted(p.name for p in trained.path.iterdir())
    assert files == ["celeba-lab-run.json", "metadata.json", "model.keras"]  # no checkpoints
    meta = json.loads((trained.path / "metadata.json").read_text())
    assert meta["attribute"] == "Male" and meta["recipe"] == "report"
    assert meta["data_fingerprint"] == synthetic_data.fingerprint and meta["synthetic"] is True
    assert meta["sizes"] == [100, 20, 20] and meta["epochs"] == 1
    assert meta["keras_backend"] == keras.backend.backend()
    assert 0 <= meta["validation"]["accuracy"] <= 1
    assert str(trained.path).startswith(str(tmp_cache))

    loaded = C.load_classifier(trained.path)
    x = np.random.default_rng(0).uniform(size=(3, 218, 178, 3)).astype("float32")
    np.testing.assert_allclose(C.predict_scores(loaded, x), C.predict_scores(trained, x),
                               rtol=1e-6, atol=1e-7)
    assert loaded.history == trained.history

    again = C.train_classifier("Male", synthetic_data, sizes=(100, 20, 20), epochs=1,
                               verbose=0)
    assert again.origin == "loaded" and again.path == trained.path
    other = C.train_classifier("Male", synthetic_data, sizes=(100, 20, 20), epochs=1, seed=1,
                               verbose=0)
    assert other.path != trained.path


@pytest.mark.slow
def test_interrupted_training_resumes_from_the_right_epoch(tmp_cache, synthetic_data):
    settings = dict(sizes=(60, 20, 20), epochs=3, verbose=0)
    with pytest.raises(_Stop):
        C.train_classifier("Eyeglasses", synthetic_data, callbacks=[_StopAfterEpoch(2)],
                           **settings)
    run = next((tmp_cache / "runs" / "classifiers").iterdir())
    with pytest.raises(R.ClassifierNotFoundError, match="epoch 2 of 3"):
        C.load_classifier(run)
    partial = json.loads((run / "checkpoint.json").read_text())["history"]

    started = []

    class RecordEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    trained = C.train_classifier("Eyeglasses", synthetic_data, callbacks=[RecordEpochs()],
                                 **settings)
    assert trained.origin == "resumed" and trained.path == run
    assert started == [2]
    assert trained.epochs == 3 and trained.history["loss"][:2] == partial["loss"]


# ------------------------------------------------------------------------------------------
# Damaged checkpoints and concurrent runs


def test_a_truncated_checkpoint_is_reported_and_trained_again(tmp_cache, tiny_sets, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(_Stop):
        C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir,
                           callbacks=[_StopAfterEpoch(1)], **TINY)
    checkpoint = run_dir / "checkpoints" / "epoch_001" / "model.keras"
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    (run_dir / ".model.keras.4242.abcd1234.tmp.keras").write_bytes(b"PK")  # a killed save
    with pytest.warns(RuntimeWarning, match="classifier in .*run is damaged: .*epoch_001."
                                            "model.keras is corrupt.*again from epoch 1"):
        trained = C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir, **TINY)
    assert trained.origin == "trained" and trained.epochs == 2
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "celeba-lab-run.json", "metadata.json", "model.keras"]


def test_a_corrupt_finished_model_is_reported_and_trained_again(tmp_cache, tiny_sets, tmp_path):
    run_dir = tmp_path / "run"
    C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=run_dir, **TINY)
    (run_dir / "model.keras").write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="model.keras.*cannot be read.*training it again"):
        trained = C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=run_dir, **TINY)
    assert trained.origin == "trained"
    assert C.load_classifier(run_dir).epochs == 1


def _stopped_after_one_of_two_epochs(run_dir):
    """A two-epoch run in ``run_dir`` interrupted after its first epoch; returns its batches."""
    x, y = _toy_images(16)
    train = ArrayBatches(x, _one_hot(y))
    with pytest.raises(_Stop):
        R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=2, run_dir=run_dir,
                        verbose=0, callbacks=[_StopAfterEpoch(1)])
    return train


def test_a_checkpoint_with_a_flipped_byte_is_reported_and_trained_again(tmp_path):
    # It may well load: only its checksum in checkpoint.json tells it from the one saved.
    train = _stopped_after_one_of_two_epochs(tmp_path)
    checkpoint = tmp_path / "checkpoints" / "epoch_001" / "model.keras"
    data = bytearray(checkpoint.read_bytes())
    data[-30] ^= 1
    checkpoint.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="epoch_001.model.keras is corrupt .its checksum "
                                            "does not match checkpoint.json.*again from epoch 1"):
        _, history, first = R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=2,
                                            run_dir=tmp_path, verbose=0)
    assert first == 0 and len(history["loss"]) == 2


def test_an_unreadable_manifest_is_reported_and_trained_again(tmp_path):
    # The policy of every run (a GAN's too): warned about, trained again, nothing deleted first.
    train = _stopped_after_one_of_two_epochs(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="checkpoint.json is corrupt .*again from epoch 1"):
        _, history, first = R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=2,
                                            run_dir=tmp_path, verbose=0)
    assert first == 0 and len(history["loss"]) == 2
    assert json.loads((tmp_path / "checkpoint.json").read_text())["epoch"] == 2


def test_a_full_disk_while_checkpointing_is_one_clear_error_and_keeps_the_last_checkpoint(
        tmp_path, monkeypatch):
    x, y = _toy_images(16)
    train = ArrayBatches(x, _one_hot(y))
    with pytest.raises(_Stop):
        R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=3, run_dir=tmp_path,
                        verbose=0, callbacks=[_StopAfterEpoch(1)])
    before = files_of(tmp_path)

    def disk_full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(keras.Model, "save", disk_full)
    with pytest.raises(R.ClassifierError, match=re.escape(
            f"No space left on device while writing the checkpoint of epoch 2 in {tmp_path}. The "
            "last complete checkpoint is intact: free some space on that disk, then call "
            "train_classifier(...) again with the same arguments to resume the run from it.")):
        R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=3, run_dir=tmp_path,
                        verbose=0)
    assert files_of(tmp_path) == before
    monkeypatch.undo()  # space freed: the run resumes after epoch 1
    _, history, first = R.fit_resumable(C.report_classifier(SMALL), train, train, epochs=3,
                                        run_dir=tmp_path, verbose=0)
    assert first == 1 and len(history["loss"]) == 3


def test_a_finished_model_with_a_flipped_byte_is_refused(tmp_cache, tiny_sets, tmp_path):
    run_dir = tmp_path / "run"
    C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=run_dir, **TINY)
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert list(meta["files"]) == ["model.keras"]
    model = run_dir / "model.keras"
    data = bytearray(model.read_bytes())
    data[-30] ^= 1
    model.write_bytes(bytes(data))
    with pytest.raises(R.CorruptClassifierError, match="checksum does not match.*train again"):
        C.load_classifier(run_dir)
    with pytest.warns(RuntimeWarning, match="model.keras.*cannot be read.*checksum.*training "
                                            "it again"):
        assert C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=run_dir,
                                  **TINY).origin == "trained"
    assert C.load_classifier(run_dir).epochs == 1


def test_starting_over_in_a_folder_that_holds_no_run_is_refused(tmp_cache, tiny_sets, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("three years of work")
    with pytest.raises(R.ClassifierError, match="not a classifier of celeba_lab.*thesis.txt"):
        C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=notes, resume=False, **TINY)
    assert sorted(p.name for p in notes.iterdir()) == ["thesis.txt"]


@pytest.mark.parametrize("resume", [True, False])
def test_a_folder_with_the_users_model_and_metadata_is_refused(tmp_cache, tiny_sets, tmp_path,
                                                               resume):
    # File names a run writes, written by the user: content, not names, makes a run.
    mine = tmp_path / "mine"
    mine.mkdir()
    C.report_classifier((32, 32, 3)).save(mine / "model.keras")
    (mine / "metadata.json").write_text(json.dumps({"attribute": "Male", "note": "mine"}))
    before = files_of(mine)
    with pytest.raises(R.ClassifierError, match="not a classifier of celeba_lab.*no "
                                                "celeba-lab-run.json.*metadata.json, model.keras"):
        C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=mine, resume=resume, **TINY)
    assert files_of(mine) == before


def test_a_finished_run_of_other_settings_is_refused_not_replaced(tmp_cache, tiny_sets,
                                                                  tmp_path):
    run_dir = tmp_path / "run"
    C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir, **TINY)
    before = files_of(run_dir)
    with pytest.raises(R.ClassifierError, match=r"other settings \(differences: epochs\).*"
                                                r"resume=False"):
        C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=run_dir, **TINY)
    assert files_of(run_dir) == before
    again = C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=run_dir, resume=False,
                               **TINY)
    assert again.origin == "trained" and C.load_classifier(run_dir).epochs == 1


def test_an_interrupted_run_of_other_settings_is_refused_and_its_checkpoint_kept(
        tmp_cache, tiny_sets, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(_Stop):
        C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir,
                           callbacks=[_StopAfterEpoch(1)], **TINY)
    before = files_of(run_dir)
    assert "checkpoints/epoch_001/model.keras" in before
    with pytest.raises(R.ClassifierError,
                       match=r"other settings \(differences: sample, seed\)"):
        C.train_classifier("Male", tiny_sets[0], epochs=2, seed=1, run_dir=run_dir, **TINY)
    assert files_of(run_dir) == before
    resumed = C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir, **TINY)
    assert resumed.origin == "resumed"


def test_a_run_another_process_trains_is_refused_and_left_alone(tmp_cache, tiny_sets, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(_Stop):
        C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir,
                           callbacks=[_StopAfterEpoch(1)], **TINY)
    (run_dir / "training.lock").write_text(str(os.getppid()))  # a live process
    before = files_of(run_dir)
    for resume in (True, False):
        with pytest.raises(R.ClassifierError, match="Another process"):
            C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir, resume=resume,
                               **TINY)
        assert files_of(run_dir) == before
