"""`python -m celeba_lab`: the synth command writes a set that load_celeba reads."""

from __future__ import annotations

import subprocess
import sys

from celeba_lab.__main__ import main


def test_synth_then_info(tmp_path, capsys):
    root = tmp_path / "celeba"
    assert main(["synth", str(root), "--n", "60", "--seed", "3"]) == 0
    assert (root / "list_attr_celeba.txt").exists()
    assert len(list((root / "img_align_celeba").glob("*.jpg"))) == 60
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "images:      60" in out and "original layout" in out


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
