"""`python -m celeba_lab`: the synth command writes a set that load_celeba reads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from celeba_lab.__main__ import main


def test_synth_then_info(tmp_path, capsys):
    root = tmp_path / "celeba"
    assert main(["synth", str(root), "--n", "60", "--seed", "3"]) == 0
    assert (root / "list_attr_celeba.txt").exists()
    assert len(list((root / "img_align_celeba").glob("*.jpg"))) == 60
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "images:      60" in out and "original layout" in out


def test_a_negative_seed_is_one_error_line_and_leaves_no_folder_in_the_way(tmp_path, capsys):
    root = tmp_path / "celeba"
    assert main(["synth", str(root), "--n", "5", "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: seed must be a whole number of at least 0, got -1")
    assert not root.exists()
    assert main(["synth", str(root), "--n", "5"]) == 0   # the next valid synth is not blocked


def test_synth_kaggle_layout(tmp_path):
    root = tmp_path / "kaggle"
    assert main(["synth", str(root), "--n", "30", "--layout", "kaggle"]) == 0
    assert (root / "img_align_celeba" / "img_align_celeba" / "000030.jpg").exists()
    assert (root / "list_attr_celeba.csv").exists()


def test_info_on_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "nowhere" in err


def test_module_runs_as_a_program(tmp_path):
    result = subprocess.run([sys.executable, "-m", "celeba_lab", "synth", str(tmp_path / "s"),
                             "--n", "10"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "wrote 10 synthetic CelebA images" in result.stdout


def _one_line_error(capsys, *words) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert all(word in err for word in words), err
    return err


def test_synth_into_an_existing_file_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["synth", str(target), "--n", "10"]) == 2
    _one_line_error(capsys, str(target), "is a file", "folder")
    assert target.read_text() == "mine"                    # left as it was
    assert main(["synth", str(target / "celeba"), "--n", "10"]) == 2    # a file on the way
    _one_line_error(capsys, str(target), "is a file")


def _deny_writes_under(monkeypatch, folder):
    """Make ``folder`` read-only as it is for a user without write permission (tests run as
    root, for whom chmod blocks nothing)."""
    import errno
    import os
    from pathlib import Path

    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(folder)) and self != folder:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)


def test_synth_into_a_read_only_folder_is_a_clear_error(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    _deny_writes_under(monkeypatch, folder)
    assert main(["synth", str(folder), "--n", "10"]) == 2
    _one_line_error(capsys, str(folder), "ermission", "folder you can write")
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="chmod does not stop root from writing")
def test_synth_into_a_chmod_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = subprocess.run([sys.executable, "-m", "celeba_lab", "synth", str(folder),
                                 "--n", "10"], capture_output=True, text=True, timeout=120)
    finally:
        folder.chmod(0o700)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "error:" in result.stderr and str(folder) in result.stderr


def test_synth_on_a_full_disk_is_one_error_line_and_leaves_no_folder(tmp_path, capsys,
                                                                      monkeypatch):
    from hand_celeba import fill_disk_after

    root = tmp_path / "celeba"
    fill_disk_after(monkeypatch, 4)
    assert main(["synth", str(root), "--n", "10"]) == 2
    _one_line_error(capsys, str(root), "No space left", "MiB", "Free some space")
    assert not root.exists()
    assert not list(tmp_path.iterdir())


def test_info_on_a_synth_killed_half_way_says_what_it_is(tmp_path, capsys):
    from hand_celeba import write_killed_half_way

    root = tmp_path / "celeba"
    write_killed_half_way(root, n=5)
    assert main(["info", str(root)]) == 2
    err = _one_line_error(capsys, str(root), "incomplete synthetic CelebA", "celeba_lab",
                          "synth")
    assert "missing" not in err          # not real CelebA missing its annotation files
