"""The run-folder machinery of :mod:`celeba_lab.runs`, function by function, without training.

Each promise a run folder makes (one run per folder, one process per folder, nothing of the
user's deleted, no half-written file trusted) is broken here on purpose. The GAN's runs keep the
same promises end to end (tests/test_gan_training.py).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from celeba_lab import runs
from celeba_lab._io import atomic_path, is_temporary, remove_temporaries, write_json_atomic
from celeba_lab.runs import RunFolder, RunFolderError, fingerprint


class Broken(RunFolderError):
    pass


def folder(path) -> RunFolder:
    return RunFolder(path, kind="test run", restart="train(..., resume=False)",
                     entries=("settings.json", "checkpoint.json", "checkpoints", "out.txt"),
                     error=Broken)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def commit_checkpoint(run: RunFolder, name: str, payload: bytes = b"weights") -> dict:
    target = run.path / "checkpoints" / name
    with atomic_path(target, directory=True) as tmp:
        (tmp / "state.bin").write_bytes(payload)
    return run.commit(target, ["state.bin"], epoch=int(name.split("_")[1]))


# Fingerprints ------------------------------------------------------------------------------

def test_fingerprint_is_stable_and_tells_settings_apart():
    settings = {"seed": 0, "epochs": 3, "conditions": ["Male"]}
    assert fingerprint(settings) == fingerprint(dict(reversed(list(settings.items()))))
    assert fingerprint({"seed": 0}) != fingerprint({"seed": 1})
    assert fingerprint({"seed": 0}) != fingerprint({"seed": "0"})
    assert len(fingerprint(settings, length=20)) == 20
    assert fingerprint(b"abc") != fingerprint("abc")


def test_fingerprint_matches_the_digest_the_gan_named_its_folders_with():
    # gan._digest (before runs.py): sha256 of the JSON (keys sorted), 12 hex digits. A GAN run
    # trained before keeps its folder name.
    import hashlib

    settings = {"format": 1, "seed": 0, "width": 0.125, "stabilise": []}
    old = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    assert fingerprint(settings) == old[:12]


# One process per folder ----------------------------------------------------------------------

def test_a_lock_held_by_a_live_process_refuses_the_folder(tmp_path):
    run = folder(tmp_path / "run")
    run.path.mkdir()
    (run.path / "training.lock").write_text(str(os.getppid()))
    with pytest.raises(Broken, match=rf"Another process \(pid {os.getppid()}\) is training the "
                                     "test run"):
        with run.claim({"seed": 0}):
            pass
    assert sorted(p.name for p in run.path.iterdir()) == ["training.lock"]  # nothing written


def test_a_lock_left_by_a_dead_process_is_taken_over_and_released(tmp_path):
    run = folder(tmp_path / "run")
    run.path.mkdir()
    (run.path / "training.lock").write_text(str(dead_pid()))
    with run.claim({"seed": 0}) as claimed:
        assert claimed is run
        assert (run.path / "training.lock").read_text() == str(os.getpid())
    assert not (run.path / "training.lock").exists()


# One run per folder --------------------------------------------------------------------------

def test_settings_are_written_once_and_other_settings_refused(tmp_path):
    run = folder(tmp_path / "run")
    with run.claim({"seed": 0, "epochs": 2}):
        pass
    assert run.settings() == {"seed": 0, "epochs": 2}
    with run.claim({"epochs": 2, "seed": 0}):  # the same settings, in another order
        pass
    with pytest.raises(Broken, match="other settings .differences: seed.*resume=False"):
        with run.claim({"seed": 1, "epochs": 2}):
            pass


def test_a_checkpoint_without_settings_is_refused(tmp_path):
    run = folder(tmp_path / "run")
    run.path.mkdir()
    (run.path / "checkpoint.json").write_text("{}")
    with pytest.raises(Broken, match="settings.json is missing or unreadable"):
        run.check_settings({"seed": 0})


# Nothing of the user's is deleted ------------------------------------------------------------

def test_a_foreign_folder_is_refused_and_left_alone(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("three years of work")
    run = folder(notes)
    with pytest.raises(Broken, match="not a test run of celeba_lab.*thesis.txt.*"
                                     r"train\(\.\.\., resume=False\)"):
        with run.claim({"seed": 0}, resume=False):
            pass
    with pytest.raises(Broken, match="not a test run of celeba_lab.*thesis.txt"):
        with run.claim({"seed": 0}):  # resuming would write beside them: refused as well
            pass
    assert sorted(p.name for p in notes.iterdir()) == ["thesis.txt"]
    assert (notes / "thesis.txt").read_text() == "three years of work"


@pytest.mark.parametrize("resume", [True, False])
def test_a_file_name_proves_nothing_a_marker_does(tmp_path, resume):
    # The user's own settings.json and checkpoint.json: the names a run writes, not a run.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "settings.json").write_text('{"seed": 0}')
    (mine / "checkpoint.json").write_text('{"my": "data"}')
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    with pytest.raises(Broken, match="has no celeba-lab-run.json.*checkpoint.json, settings.json"):
        with folder(mine).claim({"seed": 0}, resume=resume):
            pass
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before


def test_a_new_folder_gets_a_marker_and_only_its_kind_and_format_are_accepted(tmp_path):
    run = folder(tmp_path / "run")
    with run.claim({"seed": 0}):
        pass
    assert runs.read_json(run.path / runs.MARKER) == {
        "package": "celeba_lab", "format": runs.RUN_FORMAT, "kind": "test run"}
    with run.claim({"seed": 0}, resume=False):  # its own run: started over, marker kept
        pass
    assert (run.path / runs.MARKER).is_file()
    other = RunFolder(run.path, kind="GAN run", error=Broken)
    before = {p.name: p.read_bytes() for p in run.path.iterdir()}
    with pytest.raises(Broken, match="holds a test run of celeba_lab, not a GAN run"):
        with other.claim({"seed": 0}, resume=False):
            pass
    for marker, problem in [({"package": "celeba_lab", "format": runs.RUN_FORMAT + 1,
                              "kind": "test run"}, "newer celeba_lab"),
                            ({"package": "other", "format": 1, "kind": "test run"},
                             "not written by celeba_lab"),
                            ("[not json", "not written by celeba_lab or cannot be read")]:
        (run.path / runs.MARKER).write_text(marker if isinstance(marker, str)
                                            else json.dumps(marker))
        before[runs.MARKER] = (run.path / runs.MARKER).read_bytes()
        with pytest.raises(Broken, match=problem):
            with run.claim({"seed": 0}, resume=False):
                pass
        assert {p.name: p.read_bytes() for p in run.path.iterdir()} == before


def test_an_empty_folder_or_one_with_a_dead_writers_lock_is_claimed(tmp_path):
    run = folder(tmp_path / "run")
    run.path.mkdir()
    (run.path / "training.lock").write_text(str(dead_pid()))
    (run.path / f".celeba-lab-run.json.{dead_pid()}.abc.tmp.json").write_text("{")
    with run.claim({"seed": 0}):
        pass
    assert sorted(p.name for p in run.path.iterdir()) == [runs.MARKER, "settings.json"]


def test_starting_over_deletes_only_the_runs_own_entries(tmp_path):
    run = folder(tmp_path / "run")
    with run.claim({"seed": 0}):
        commit_checkpoint(run, "epoch_001")
        (run.path / "out.txt").write_text("the run's")
        (run.path / "mine.txt").write_text("the user's")
    with run.claim({"seed": 1}, resume=False):  # other settings: allowed when starting over
        assert sorted(p.name for p in run.path.iterdir()) == [
            runs.MARKER, "mine.txt", "settings.json", "training.lock"]
    assert run.settings() == {"seed": 1}


# No half-written file is trusted -------------------------------------------------------------

def test_temporaries_of_dead_processes_are_removed_and_a_live_writers_kept(tmp_path):
    run = folder(tmp_path / "run")
    (run.path / "checkpoints").mkdir(parents=True)
    run.mark()  # a run's folder: claim would refuse one without its marker
    dead = [run.path / f".checkpoint.json.{dead_pid()}.abc.tmp.json",
            run.path / "checkpoints" / f".epoch_002.{dead_pid()}.xyz.tmp",
            run.path / ".unnamed.tmp"]
    dead[0].write_text("{")
    dead[1].mkdir()
    (dead[1] / "generator.weights.h5").write_bytes(b"half")
    dead[2].write_text("?")
    live = run.path / f".metadata.json.{os.getppid()}.abc.tmp.json"
    live.write_text("{")
    keep = run.path / "notes.txt"
    keep.write_text("mine")
    removed = remove_temporaries(run.path, recursive=True, locked=True)  # what claim does
    assert sorted(removed) == sorted(dead)
    assert not any(p.exists() for p in dead)
    assert live.exists() and keep.exists()
    dead[0].write_text("{")
    with run.claim(None):
        assert not dead[0].exists() and live.exists() and keep.exists()


def test_the_manifest_vouches_for_every_file_and_detects_a_flipped_byte(tmp_path):
    run = folder(tmp_path / "run")
    run.path.mkdir()
    assert run.read_manifest() is None
    commit_checkpoint(run, "epoch_001", b"first")
    manifest = commit_checkpoint(run, "epoch_002", b"second")
    # Committing the new checkpoint removed the older one.
    assert [p.name for p in (run.path / "checkpoints").iterdir()] == ["epoch_002"]
    assert runs.read_json(run.path / "checkpoint.json") == manifest == run.read_manifest()
    assert manifest["folder"] == "checkpoints/epoch_002" and manifest["epoch"] == 2
    assert run.verify(manifest) == run.path / "checkpoints" / "epoch_002"
    path = run.path / "checkpoints" / "epoch_002" / "state.bin"
    data = bytearray(path.read_bytes())
    data[3] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(Broken, match="state.bin is corrupt .its checksum"):
        run.verify(manifest)
    path.unlink()
    with pytest.raises(Broken, match="the checkpoint of epoch 2 lacks .*state.bin"):
        run.verify(manifest)


def test_a_corrupt_or_missing_manifest_is_a_clear_error(tmp_path):
    run = folder(tmp_path / "run")
    run.path.mkdir()
    commit_checkpoint(run, "epoch_001")
    (run.path / "checkpoint.json").write_text("{not json")
    with pytest.raises(Broken, match="checkpoint.json is corrupt"):
        run.read_manifest()
    (run.path / "checkpoint.json").write_text(json.dumps({"folder": "checkpoints/epoch_001"}))
    with pytest.raises(Broken, match="checkpoint.json is corrupt .KeyError"):
        run.read_manifest()
    (run.path / "checkpoint.json").unlink()
    with pytest.raises(Broken, match="checkpoint.json is missing but the checkpoints folder"):
        run.read_manifest()


def test_json_is_written_atomically_and_read_back(tmp_path):
    path = write_json_atomic(tmp_path / "a" / "settings.json", {"seed": 0, "path": Path("x")})
    assert runs.read_json(path) == {"seed": 0, "path": "x"}
    assert not [p for p in path.parent.iterdir() if is_temporary(p)]
    path.write_text("{")
    assert runs.read_json(path) is None and runs.read_json(tmp_path / "missing.json") is None


# The one checkpoint format and the one damage policy, for every kind of run ----------------

def write_state(payload: bytes, folder: Path) -> None:
    """A checkpoint writer as the drivers' are (:class:`runs.Checkpoint` calls one)."""
    if payload is None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what a full disk raises
    (folder / "state.bin").write_bytes(payload)


def read_state(folder: Path) -> bytes:
    data = (folder / "state.bin").read_bytes()
    if data == b"unreadable":
        raise ValueError("not a state")
    return data


def files_of(run: RunFolder) -> dict:
    return {p.relative_to(run.path): p.read_bytes() for p in sorted(run.path.rglob("*"))
            if p.is_file()}


def test_a_checkpoint_is_saved_whole_and_resumed(tmp_path):
    run = folder(tmp_path / "run")
    assert run.resume(read_state) is None  # nothing yet
    run.save_checkpoint(write_state, b"first", 1, {"loss": [0.5]})
    checkpoint = run.save_checkpoint(write_state, b"second", 2, {"loss": [0.5, 0.25]}, note=1)
    assert [p.name for p in (run.path / "checkpoints").iterdir()] == ["epoch_002"] == [
        checkpoint.name]
    manifest, state = run.resume(read_state)
    assert state == b"second" and manifest == runs.read_json(run.path / "checkpoint.json")
    assert manifest["epoch"] == 2 and manifest["history"] == {"loss": [0.5, 0.25]}
    assert manifest["note"] == 1 and list(manifest["files"]) == ["state.bin"]


@pytest.mark.parametrize("damage, problem", [
    ("flip a byte", "state.bin is corrupt .its checksum does not match checkpoint.json"),
    ("delete the file", "the checkpoint of epoch 1 lacks .*state.bin"),
    ("unreadable manifest", "checkpoint.json is corrupt .JSONDecodeError"),
    ("no manifest", "checkpoint.json is missing but the checkpoints folder is not empty"),
    ("epoch not a number", "checkpoint.json is corrupt .ValueError: epoch 1.5"),
    ("restore fails", "epoch_001 cannot be read .ValueError: not a state"),
])
def test_a_damaged_checkpoint_is_named_in_one_warning_and_nothing_is_deleted(tmp_path, damage,
                                                                            problem):
    run = folder(tmp_path / "run")
    run.save_checkpoint(write_state, b"state", 1, {})
    state = run.path / "checkpoints" / "epoch_001" / "state.bin"
    manifest = run.path / "checkpoint.json"
    if damage == "flip a byte":
        state.write_bytes(b"stage")
    elif damage == "delete the file":
        state.unlink()
    elif damage == "unreadable manifest":
        manifest.write_text("{not json")
    elif damage == "no manifest":
        manifest.unlink()
    elif damage == "epoch not a number":
        manifest.write_text(json.dumps({**runs.read_json(manifest), "epoch": 1.5}))
    else:
        run.save_checkpoint(write_state, b"unreadable", 1, {})
    before = files_of(run)
    with pytest.warns(RuntimeWarning) as warned:
        assert run.resume(read_state) is None  # the caller trains again from epoch 1
    assert len(warned) == 1
    assert re.search(f"The checkpoint of the test run in {re.escape(str(run.path))} is damaged: "
                     f".*{problem}.*; training it again from epoch 1", str(warned[0].message))
    assert files_of(run) == before  # nothing deleted: the first new checkpoint replaces it
    with pytest.raises(Broken, match=rf"{problem}.*Call train\(\.\.\.\) again"):
        run.resume(read_state, strict=True)  # a loader cannot train: it raises
    run.save_checkpoint(write_state, b"again", 1, {})
    assert run.resume(read_state)[1] == b"again"


def test_a_full_disk_is_one_clear_error_and_the_last_checkpoint_stays(tmp_path):
    run = folder(tmp_path / "run")
    run.save_checkpoint(write_state, b"first", 1, {})
    before = files_of(run)
    with pytest.raises(Broken, match=re.escape(
            f"No space left on device while writing the checkpoint of epoch 2 in {run.path}. "
            "The last complete checkpoint is intact: free some space on that disk, then call "
            "train(...) again with the same arguments to resume the run from it.")) as error:
        run.save_checkpoint(write_state, None, 2, {})
    assert error.value.__cause__.errno == errno.ENOSPC
    assert files_of(run) == before  # no partial checkpoint, the manifest unchanged
    assert run.resume(read_state)[1] == b"first"

    def denied(payload, folder):
        raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(PermissionError):  # any other error passes unchanged
        run.save_checkpoint(denied, None, 2, {})


# What the classifier's run folders need: a finished model in one file, patterns, markers -----

def file_folder(path) -> RunFolder:
    """A run folder laid out as a finished classifier's: one file vouched for by its own
    manifest (``metadata.json``) at the top level."""
    return RunFolder(path, kind="test run", restart="train(..., resume=False)",
                     entries=("model.bin", "metadata.json", "checkpoint-*.bin"), error=Broken,
                     markers=("metadata.json", "model.bin"), lock_error=TimeoutError,
                     manifest="metadata.json")


def test_clear_deletes_what_a_glob_entry_matches_and_nothing_else(tmp_path):
    run = file_folder(tmp_path / "run")
    run.path.mkdir()
    for name in ("model.bin", "metadata.json", "checkpoint-001.bin", "checkpoint-002.bin",
                 "checkpoint.txt", "notes.txt"):
        (run.path / name).write_text(name)
    run.clear()
    assert sorted(p.name for p in run.path.iterdir()) == ["checkpoint.txt", "notes.txt"]


def test_a_run_written_before_markers_is_recognised_only_where_the_package_named_it(tmp_path):
    run = file_folder(tmp_path / "run")
    run.path.mkdir()
    (run.path / "notes.txt").write_text("mine")
    with pytest.raises(Broken, match="it has no celeba-lab-run.json.*notes.txt"):
        run.refuse_foreign()
    (run.path / "model.bin").write_text("a finished run")
    with pytest.raises(Broken, match="it has no celeba-lab-run.json.*model.bin, notes.txt"):
        run.refuse_foreign()  # a name alone proves nothing in a folder the user gave
    adopted = dataclasses.replace(run, adopt=True)
    adopted.refuse_foreign()  # a default run folder: one old marker is enough
    with adopted.claim(None):
        pass
    assert (run.path / runs.MARKER).is_file()
    run.refuse_foreign()  # now marked


def test_a_busy_folder_raises_the_lock_error_and_no_settings_are_written(tmp_path):
    run = file_folder(tmp_path / "run")
    with run.claim(None, resume=False):  # None: the caller checks the settings itself
        pass
    assert [p.name for p in run.path.iterdir()] == [runs.MARKER]  # no settings, no lock
    (run.path / "training.lock").write_text(str(os.getppid()))
    with pytest.raises(TimeoutError, match="Another process"):
        with run.claim(None):
            pass


def test_a_one_file_model_is_committed_verified_and_every_checkpoint_deleted(tmp_path):
    run = file_folder(tmp_path / "run")
    run.path.mkdir()
    (run.path / "notes.txt").write_text("mine")
    dataclasses.replace(run, manifest="checkpoint.json").save_checkpoint(write_state, b"1", 1, {})
    (run.path / "model.bin").write_bytes(b"weights 2")
    manifest = run.commit(run.path, ["model.bin"], epoch=2)
    assert sorted(p.name for p in run.path.iterdir()) == [
        "checkpoint.json", "checkpoints", "metadata.json", "model.bin", "notes.txt"]
    assert not any((run.path / "checkpoints").iterdir())  # the finished model supersedes them
    assert manifest["folder"] == "." and runs.read_json(run.path / "metadata.json") == manifest
    assert run.read_manifest() == manifest and run.verify(manifest) == run.path
    (run.path / "model.bin").write_bytes(b"weights 3")
    with pytest.raises(Broken, match="model.bin is corrupt .* does not match metadata.json"):
        run.verify(manifest)
    with pytest.raises(Broken, match="does not match checkpoint.json"):
        run.verify({"files": manifest["files"]}, source="checkpoint.json")  # folder: the run's
