"""cl.setup(): harmless locally, switches to real data and the full recipe on Colab."""

from __future__ import annotations

import sys

from celeba_lab import config, environment


def test_setup_locally_changes_nothing(tmp_cache, monkeypatch, capsys):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    env = environment.setup()
    assert not env.on_colab and env.synthetic
    assert env.profile.name == "quick" and config.data_root() is None
    out = capsys.readouterr().out
    assert "synthetic CelebA" in out and "profile:      quick" in out


def test_setup_on_colab_uses_drive_copy_and_the_colab_profile(tmp_cache, tmp_path, monkeypatch):
    drive = tmp_path / "drive" / "celeba"
    drive.mkdir(parents=True)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    monkeypatch.setattr(environment, "DRIVE_CANDIDATES", (str(drive),))
    env = environment.setup(quiet=True)
    assert env.on_colab and not env.synthetic
    assert env.data_root == drive and env.profile.name == "colab"


def test_setup_respects_explicit_choices(tmp_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    env = environment.setup(data_root=tmp_path, profile="quick", quiet=True)
    assert env.data_root == tmp_path and env.profile.name == "quick"


def test_accelerators_is_a_list_of_names():
    names = environment.accelerators()
    assert isinstance(names, list) and all(isinstance(n, str) for n in names)
