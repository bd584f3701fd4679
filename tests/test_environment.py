"""cl.setup(): harmless locally, switches to real data and the full recipe on Colab."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest

from celeba_lab import cache, config, environment


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


# Colab, faked: the Drive mount point and the local image folder are temporary folders, and
# google.colab.drive.mount links MyDrive to a folder that outlives the machine, the "cloud" (or
# refuses, as when the reader declines).
def _fake_colab(monkeypatch, tmp_path, *, refuse: bool = False) -> list[str]:
    mounts: list[str] = []
    cloud = tmp_path / "cloud"

    def mount(mountpoint, **kwargs):
        mounts.append(mountpoint)
        if refuse:
            raise ValueError("mount failed")
        cloud.mkdir(exist_ok=True)
        Path(mountpoint).mkdir(parents=True, exist_ok=True)
        (Path(mountpoint) / "MyDrive").symlink_to(cloud, target_is_directory=True)

    google, colab, drive = (types.ModuleType(n) for n in
                            ("google", "google.colab", "google.colab.drive"))
    drive.mount, colab.drive, google.colab = mount, drive, colab
    for module in (google, colab, drive):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(environment, "DRIVE_MOUNT", str(tmp_path / "content" / "drive"))
    monkeypatch.setattr(environment, "LOCAL_IMAGE_CACHE", str(tmp_path / "content" / "images"))
    copy = tmp_path / "content" / "drive" / "MyDrive" / "celeba"
    monkeypatch.setattr(environment, "DRIVE_CANDIDATES", (str(copy),))
    monkeypatch.setattr(environment, "_colab_data_root", lambda: copy)  # no download
    monkeypatch.delenv(config.CACHE_ENV, raising=False)
    monkeypatch.delenv(config.IMAGES_ENV, raising=False)
    monkeypatch.delenv(config.ROOT_ENV, raising=False)
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    monkeypatch.setattr(config, "_overrides", {})
    return mounts


def test_setup_on_colab_keeps_runs_in_drive_and_images_on_the_machine(tmp_path, monkeypatch,
                                                                      capsys):
    mounts = _fake_colab(monkeypatch, tmp_path)
    env = environment.setup()
    drive = tmp_path / "content" / "drive"
    assert mounts == [str(drive)]
    assert env.cache == config.cache_dir() == drive / "MyDrive" / "celeba-lab"
    assert config.runs_dir().parent == env.cache
    assert env.images == config.images_dir() == tmp_path / "content" / "images"
    assert cache._images_cache_dir() == env.images       # where decoded_images writes
    out = capsys.readouterr().out
    assert f"cache:        {env.cache}\nimages:       {env.images}\nkept:   " in out
    runs, images = environment.storage_needed(config.get_profile("colab"))
    assert f"in Google Drive (cache, about {runs / 1e9:.2f} GB" in env.kept
    assert f"decoded images on this machine (images, up to {images / 1e9:.1f} GB" in env.kept

    # The same kernel reruns its first cell: nothing is mounted twice.
    assert environment.setup(quiet=True).cache == env.cache and len(mounts) == 1

    # A new session (a later chapter, or after a disconnect) on a fresh machine: nothing
    # mounted, nothing set; Drive, mounted again, holds the run folder the earlier one wrote.
    (config.runs_dir() / "gans" / "dcgan-0123").mkdir(parents=True)
    shutil.rmtree(drive)
    monkeypatch.setattr(config, "_overrides", {})
    env = environment.setup(quiet=True)
    assert mounts == [str(drive)] * 2 and env.cache == drive / "MyDrive" / "celeba-lab"
    assert (config.runs_dir() / "gans" / "dcgan-0123").is_dir()


def test_an_explicit_cache_wins_over_drive(tmp_path, monkeypatch, capsys):
    mounts = _fake_colab(monkeypatch, tmp_path)
    mine = tmp_path / "my-cache"
    monkeypatch.setenv(config.CACHE_ENV, str(mine))
    env = environment.setup()
    assert mounts == [] and env.cache == mine and env.images == mine / "images"
    out = capsys.readouterr().out
    assert f"not in Google Drive: {config.CACHE_ENV} is set to {mine}" in out
    assert "lost when this Colab session ends" in env.kept
    # ... and one inside Drive is used as it is, with Drive mounted for it.
    inside = tmp_path / "content" / "drive" / "MyDrive" / "mine"
    monkeypatch.setenv(config.CACHE_ENV, str(inside))
    env = environment.setup(quiet=True)
    assert len(mounts) == 1 and env.cache == inside and env.images == inside / "images"


def test_setup_without_drive_keeps_everything_on_the_machine(tmp_path, monkeypatch, capsys):
    mounts = _fake_colab(monkeypatch, tmp_path, refuse=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    env = environment.setup()
    assert mounts == [str(tmp_path / "content" / "drive")]
    assert env.cache == tmp_path / "home" / ".cache" / "celeba-lab"
    out = capsys.readouterr().out
    assert "Google Drive is not mounted (ValueError: mount failed)" in out
    assert "lost when this Colab session ends" in env.kept
    env = environment.setup(drive=False, quiet=True)
    assert len(mounts) == 1 and env.cache == tmp_path / "home" / ".cache" / "celeba-lab"


def test_drive_is_checked(tmp_cache, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    with pytest.raises(ValueError, match="drive=True .* only Colab mounts"):
        environment.setup(drive=True, quiet=True)
    with pytest.raises(ValueError, match="drive must be True, False or None"):
        environment.setup(drive="yes", quiet=True)


def test_storage_needed_grows_with_the_profile():
    quick, colab, full = (environment.storage_needed(config.get_profile(p))
                          for p in ("quick", "colab", "full"))
    assert colab[0] < full[0] and quick[1] < colab[1] < full[1]
    # colab: 7 balanced samples of 6,000 and the 19,962 test images at 218 x 178, and all of
    # CelebA twice at 64 x 64.
    assert colab[1] == (7 * 6_000 + 19_962) * 218 * 178 * 3 + 2 * 202_599 * 64 * 64 * 3
