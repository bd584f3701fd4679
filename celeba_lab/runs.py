"""Run folders: what makes a training run resumable, reliable and safe to start over.

A run folder holds the marker ``celeba-lab-run.json``, ``settings.json``, the manifest
``checkpoint.json`` and, while it trains, ``training.lock``. Its promises: one run and one
process per folder; nothing of the user's touched (a run is known by its marker, never by file
names); no half-written file trusted; one damage policy for every run (:meth:`RunFolder.resume`).

Example:
    >>> folder = RunFolder(cl.config.runs_dir() / "demo", kind="demo run",
    ...                    restart="train(..., resume=False)")
    >>> with folder.claim({"seed": 0}):
    ...     folder.settings()
    {'seed': 0}
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import keras

from ._io import (DISK_FULL, atomic_path, file_digest, folder_lock, is_temporary, remove_path,
                  remove_temporaries, temp_file_owner, write_json_atomic)

SETTINGS = "settings.json"
MARKER = "celeba-lab-run.json"
#: The run folders' format version, written in every marker; a newer one is refused.
RUN_FORMAT = 1
MANIFEST = "checkpoint.json"
CHECKPOINTS = "checkpoints"
LOCK = "training.lock"


class RunFolderError(RuntimeError):
    """A run folder cannot be used: another process trains it, it holds another run, or its
    checkpoint is missing or corrupt (the message says what to do)."""


def fingerprint(*parts: Any, length: int = 12) -> str:
    """A short hex digest of ``parts``: equal settings, equal digest (dict keys are sorted).

    Args:
        *parts: Usually one mapping of settings, hashed as JSON (keys sorted, other objects as
            ``str``); ``bytes`` as they are.
        length: Number of hex digits.

    Returns:
        The digest.

    Example:
        >>> fingerprint({"seed": 0, "epochs": 3}) == fingerprint({"epochs": 3, "seed": 0})
        True
        >>> fingerprint({"seed": 0}) != fingerprint({"seed": 1}), len(fingerprint({"seed": 0}))
        (True, 12)
    """
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes)
                 else json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:length]


def differing_keys(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Sorted keys whose values differ, compared as JSON stores them (a tuple equals its list).

    Example:
        >>> differing_keys({"seed": 0, "stabilise": ["a"]}, {"seed": 1, "stabilise": ("a",)})
        ['seed']
    """
    existing, wanted = (json.loads(json.dumps(dict(s), default=str)) for s in (existing, wanted))
    return sorted(k for k in {*existing, *wanted} if existing.get(k) != wanted.get(k))


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in the file ``path``, or ``None`` when it is missing or unreadable.

    Example:
        >>> read_json("no-such-file.json") is None
        True
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class RunFolder:
    """One run's folder, and the promises of the module docstring.

    Args:
        path: The folder (it need not exist yet).
        kind: What runs in it, for messages: ``"GAN run"``.
        restart: The call starting the run over, for messages: ``"train_gan(..., resume=False)"``.
        entries: What :meth:`clear` deletes: the names (or glob patterns) the run writes.
        error: The exception raised (a subclass of :class:`RunFolderError` or ``RuntimeError``).
        markers: Names of which one at least is in a run folder written before markers.
        lock_error: Raised when another live process holds the lock (default: ``error``).
        manifest: The manifest's name.
        adopt: Recognise a run without a marker by its ``markers`` (and give it one): only for
            a folder the package named itself, never for a ``run_dir`` the user passed.

    Example:
        >>> RunFolder("runs/x", kind="GAN run").advice("it is broken")[:33]
        'Cannot resume the GAN run in runs'
    """

    path: Path
    kind: str = "run"
    restart: str = "resume=False"
    entries: Sequence[str] = (SETTINGS, MANIFEST, CHECKPOINTS)
    error: type[Exception] = field(default=RunFolderError)
    markers: Sequence[str] = (SETTINGS,)
    lock_error: type[Exception] | None = None
    manifest: str = MANIFEST
    adopt: bool = False

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    def advice(self, problem: str) -> str:
        """The message for a folder that cannot be resumed: ``problem`` and what to do.

        Example:
            >>> "resume=False" in RunFolder("x").advice("its checkpoint is corrupt")
            True
        """
        return (f"Cannot resume the {self.kind} in {self.path}: {problem}. Delete the run folder "
                f"(shutil.rmtree('{self.path}')) or call {self.restart} to start this run over, "
                "or pass another run_dir.")

    def refuse_foreign(self) -> None:
        """Refuse a folder that holds anything (besides a lock and writers' temporaries) and no
        marker :meth:`mark` wrote for :attr:`kind` (a file's name proves nothing; a marker does).

        Raises:
            error: The folder holds files and no marker (the message names some), a marker
                of another kind of run, or of a newer format.

        Example:
            >>> RunFolder("a-new-folder").refuse_foreign()  # a missing folder is fine
        """
        if not self.path.is_dir():
            return
        marker_file = self.path / MARKER
        if marker_file.exists():
            marker = read_json(marker_file)
            if not isinstance(marker, dict) or marker.get("package") != "celeba_lab":
                problem = f"its {MARKER} was not written by celeba_lab or cannot be read"
            elif not isinstance(marker.get("format"), int) or marker["format"] > RUN_FORMAT:
                problem = (f"it was written by a newer celeba_lab (run folder format "
                           f"{marker.get('format')!r}; this one reads up to {RUN_FORMAT}): "
                           "upgrade celeba_lab to use it")
            elif marker.get("kind") != self.kind:
                problem = f"it holds a {marker.get('kind')} of celeba_lab, not a {self.kind}"
            else:
                return
            raise self.error(f"{self.path} cannot be used for this {self.kind}: {problem}. "
                             "Nothing in it was changed. Pass another run_dir.")
        if self.adopt and any((self.path / m).is_file() for m in self.markers):
            return
        foreign = sorted(p.name for p in self.path.iterdir()
                         if p.name != LOCK and not (is_temporary(p) and temp_file_owner(p)))
        if foreign:
            raise self.error(
                f"{self.path} is not a {self.kind} of celeba_lab (it has no {MARKER}, which "
                "the package writes into every run folder it creates) but holds "
                f"{', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}. celeba_lab "
                "writes only into a new or empty folder or one of its own runs, whatever "
                f"resume says, and deletes only its own files ({self.restart} included). "
                "Nothing in it was changed. Pass a new or empty run_dir.")

    def mark(self) -> None:
        """Write the marker that makes the folder a run of :attr:`kind` (once).

        Example:
            >>> folder = RunFolder("marked", kind="demo run")
            >>> folder.path.mkdir(); folder.mark()
            >>> read_json("marked/celeba-lab-run.json")
            {'format': 1, 'kind': 'demo run', 'package': 'celeba_lab'}
        """
        if not (self.path / MARKER).exists():
            write_json_atomic(self.path / MARKER,
                       {"package": "celeba_lab", "format": RUN_FORMAT, "kind": self.kind})

    @contextlib.contextmanager
    def claim(self, settings: Mapping[str, Any] | None, *,
              resume: bool = True) -> Iterator[RunFolder]:
        """Hold the folder for one training session of the run ``settings`` describe.

        In order: :meth:`refuse_foreign`; under the lock, write the marker, delete the run's
        own files (``resume=False``), check or write ``settings.json``, remove temporaries.

        Args:
            settings: The run's settings (JSON-able); ``None``: the caller checks them.
            resume: Keep what the folder holds; ``False`` starts the run over.

        Yields:
            This folder.

        Raises:
            error: Another live process holds the lock; the folder holds another run, a
                checkpoint without settings, or is not a run of this kind.

        Example:
            >>> with RunFolder("run").claim({"seed": 1}, resume=False) as folder:
            ...     (folder.path / "training.lock").exists()
            True
        """
        self.refuse_foreign()
        self.path.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.path, f"the {self.kind}", name=LOCK,
                         error=self.lock_error or self.error):
            self.refuse_foreign()  # again: another process may have written in between
            self.mark()
            if not resume:
                self.clear()
            if settings is not None:
                self.check_settings(settings)
            remove_temporaries(self.path, recursive=True, locked=True)  # a killed session's
            yield self

    def settings(self) -> dict | None:
        """The run's ``settings.json`` (``None``: none or unreadable).

        Example:
            >>> RunFolder("a-new-folder").settings() is None
            True
        """
        return read_json(self.path / SETTINGS)

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """Write ``settings.json``, or check that the folder's run has these ``settings``.

        Raises:
            error: Other settings (the message lists the differing keys), or no readable
                ``settings.json`` beside a checkpoint.

        Example:
            >>> RunFolder("run").check_settings({"seed": 0})  # writes run/settings.json
        """
        existing, wanted = self.settings(), json.loads(json.dumps(dict(settings), default=str))
        if existing is None:
            if (self.path / self.manifest).exists():
                raise self.error(self.advice(f"{self.path / SETTINGS} is missing or unreadable, "
                                             "but the folder holds a checkpoint"))
            write_json_atomic(self.path / SETTINGS, dict(settings))
        else:
            self.refuse_other_settings(existing, wanted)

    def refuse_other_settings(self, existing: Mapping[str, Any] | None,
                              wanted: Mapping[str, Any]) -> None:
        """Raise unless the folder's run, started with ``existing``, is the run ``wanted``.

        Raises:
            error: Other settings; the message lists the differing keys and what to do.

        Example:
            >>> RunFolder("run").refuse_other_settings({"epochs": 4}, {"epochs": 1})
            Traceback (most recent call last):
            celeba_lab.runs.RunFolderError: Cannot resume the run in run: it was trained with other settings (differences: epochs)...
        """
        changed = [] if existing is None else differing_keys(existing, wanted)
        if not changed:
            return
        raise self.error(self.advice(f"it was trained with other settings "
                                     f"(differences: {', '.join(changed)})"))

    def clear(self) -> None:
        """Delete the run's own files (:attr:`entries`); anything else in the folder stays.

        Example:
            >>> RunFolder("run").clear()
        """
        for name in self.entries:
            for path in (self.path.glob(name) if glob.has_magic(name) else [self.path / name]):
                remove_path(path)

    def commit(self, folder: str | os.PathLike, files: Sequence[str], **fields: Any) -> dict:
        """Point the manifest at a complete checkpoint (atomically), then delete older ones.

        Args:
            folder: The checkpoint folder (e.g. ``checkpoints/epoch_003``), or the run folder
                itself for a finished model (then every checkpoint is deleted).
            files: The names of its files that the manifest vouches for (SHA-256).
            **fields: More entries (JSON-able), e.g. ``epoch=3``.

        Returns:
            The manifest.

        Example:
            >>> _ = write_json_atomic("run/checkpoints/epoch_001/state.json", {"step": 1})
            >>> RunFolder("run").commit("run/checkpoints/epoch_001", ["state.json"])["folder"]
            'checkpoints/epoch_001'
        """
        folder = Path(folder)
        manifest = {**fields, "folder": folder.relative_to(self.path).as_posix(),
                    "files": {name: file_digest(folder / name, "sha256") for name in files}}
        write_json_atomic(self.path / self.manifest, manifest)
        for old in self.path.glob(f"{CHECKPOINTS}/*"):
            if old != folder and not is_temporary(old):
                remove_path(old)
        return manifest

    def save_checkpoint(self, write: Callable[[Any, Path], Mapping[str, Any] | None], model: Any,
                        epoch: int, history: Mapping[str, Sequence[float]],
                        **fields: Any) -> Path:
        """Write the checkpoint of ``epoch`` (1 for the first): ``write(model, folder)`` fills
        a new folder, renamed ``checkpoints/epoch_NNN`` once whole, and returns more manifest
        entries (or ``None``); then :meth:`commit` it with the epoch, ``history`` and ``fields``.

        Returns:
            The checkpoint folder.

        Raises:
            error: The disk is full (or over quota); the run resumes from its last complete
                checkpoint, left intact.

        Example:
            >>> def write(model, folder):
            ...     (folder / "weights.txt").write_text(model)
            >>> RunFolder("run").save_checkpoint(write, "w", 1, {"loss": [0.5]}).name
            'epoch_001'
        """
        target = self.path / CHECKPOINTS / f"epoch_{epoch:03d}"
        try:
            with atomic_path(target, directory=True) as tmp:
                more = write(model, tmp) or {}
            self.commit(target, sorted(p.name for p in target.iterdir()), **fields, **more,
                        epoch=int(epoch), history={k: list(map(float, v))
                                                   for k, v in history.items()})
        except OSError as error:
            if error.errno not in DISK_FULL:
                raise
            raise self.error(
                f"{error.strerror or error} while writing the checkpoint of epoch {epoch} in "
                f"{self.path}. The last complete checkpoint is intact: free some space on that "
                f"disk, then call {self.restart.split('(')[0]}(...) again with the same "
                "arguments to resume the run from it.") from error
        return target

    def read_manifest(self, required: Sequence[str] = ("folder", "files")) -> dict | None:
        """The manifest, or ``None`` when no checkpoint was committed yet.

        Args:
            required: Entries a usable manifest must have.

        Raises:
            error: The manifest is corrupt (unreadable, a ``required`` entry missing, an epoch
                that is not a whole number), or missing beside a checkpoint.

        Example:
            >>> RunFolder("a-new-folder").read_manifest() is None
            True
        """
        path = self.path / self.manifest
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if any(self.path.glob(f"{CHECKPOINTS}/*")):
                raise self.error(f"{path} is missing but the checkpoints folder is not "
                                 "empty") from None
            return None
        try:
            manifest = json.loads(text)
            [manifest[key] for key in required]
            if not isinstance(manifest.get("epoch", 0), int):
                raise ValueError(f"epoch {manifest['epoch']!r} is not a whole number")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise self.error(f"{path} is corrupt ({type(error).__name__}: {error})") from None
        return manifest

    def verify(self, manifest: Mapping[str, Any], source: str | None = None) -> Path:
        """Check that every file of the manifest's checkpoint is there, byte for byte.

        Args:
            manifest: From :meth:`read_manifest` (``"files"``; ``"folder"``, default the run).
            source: The file the manifest was read from, for messages.

        Returns:
            The checkpoint folder.

        Raises:
            error: A file is missing, or its SHA-256 differs from the manifest's.

        Example:
            >>> run = RunFolder("run")
            >>> _ = write_json_atomic("run/checkpoints/epoch_001/state.json", {"step": 1})
            >>> run.verify(run.commit("run/checkpoints/epoch_001", ["state.json"])).name
            'epoch_001'
        """
        folder = self.path / manifest.get("folder", ".")
        which = (f"the checkpoint of epoch {manifest['epoch']}" if "epoch" in manifest
                 else f"the checkpoint in {folder}")
        for name, digest in manifest["files"].items():
            path = folder / name
            if not path.is_file():
                raise self.error(f"{which} lacks {path}")
            if file_digest(path, "sha256") != digest:
                raise self.error(f"{path} is corrupt (its checksum does not match "
                                 f"{source or self.manifest})")
        return folder

    def resume(self, restore: Callable[[Path], Any], *,
               strict: bool = False) -> tuple[dict, Any] | None:
        """``(manifest, restore(checkpoint folder))`` of the last complete checkpoint; ``None``
        when there is none, or when it is damaged.

        The one damage policy (CONTRIBUTING.md): an unreadable manifest, a file missing or unlike
        its SHA-256, or a checkpoint ``restore`` raises on, is named in one ``RuntimeWarning``
        and the run trains again from epoch 1 (the first new checkpoint replaces it).

        Raises:
            error: With ``strict`` (a loader, which cannot train), a damaged checkpoint.

        Example:
            >>> RunFolder("a-new-folder").resume(lambda folder: "a model") is None
            True
        """
        try:
            manifest = self.read_manifest(required=("epoch", "history", "folder", "files"))
            if manifest is None:
                return None
            folder = self.verify(manifest)
            try:
                return manifest, restore(folder)
            except Exception as error:  # zip, HDF5, shapes: all mean the checkpoint is unusable
                raise self.error(f"{folder} cannot be read ({type(error).__name__}: "
                                 f"{error})") from error
        except self.error as error:
            damaged = f"The checkpoint of the {self.kind} in {self.path} is damaged: {error}"
            if strict:
                raise self.error(f"{damaged}. Call {self.restart.split('(')[0]}(...) again with "
                                 "the run's arguments: it trains the run again.") from None
            warnings.warn(f"{damaged}; training it again from epoch 1.", RuntimeWarning,
                          stacklevel=3)
            return None


class Checkpoint(keras.callbacks.Callback):
    """The checkpoint callback of every run: after each epoch,
    ``folder.save_checkpoint(write, model, epoch, history, **fields)``. With ``record`` it first
    appends the epoch's logs and ``seconds`` to ``history`` (else an earlier callback does)."""

    def __init__(self, folder: RunFolder, write: Callable[[Any, Path], Mapping | None],
                 history: dict[str, list[float]], *, record: bool = False, **fields: Any):
        super().__init__()
        self.folder, self.write, self.history = folder, write, history
        self.record, self.fields = record, fields

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.record:
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            self.history.setdefault("seconds", []).append(time.perf_counter() - self.began)
        self.folder.save_checkpoint(self.write, self.model, epoch + 1, self.history,
                                    **self.fields)


__all__ = ["Checkpoint", "RunFolder", "RunFolderError", "fingerprint"]
