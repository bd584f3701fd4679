"""Atomic file writes (an interrupted process never leaves a half-written file that is
trusted), their clean-up, folder locks and the training calls' printed lines.

Every cache, checkpoint and saved model in the package goes through :func:`atomic_path`:
written under a temporary name in the same folder, renamed into place once complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

#: The error numbers of a write on a full disk, or over the user's disk quota.
DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def disk_full_error(error: OSError, what: str, folder: Path, needed: int, advice: str,
                    removed: str):
    """The package's one message for a full disk: what was written where, the space it needs
    and the space free, what to do (``advice``), and what was removed; the errno is kept."""
    from ._errors import CacheWriteError

    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        free = f"{shutil.disk_usage(existing).free / 2**20:,.1f} MiB is free there"
    except OSError:
        free = "the free space there is unknown"
    said = CacheWriteError(
        f"{error.strerror or error} while writing {what}: it needs about "
        f"{needed / 2**20:,.1f} MiB and {free}. Free some space on that disk, or {advice}, then "
        f"run this again. {removed}")
    said.errno = error.errno      # (no strerror: str() stays the message)
    return said


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block succeeds.

    With ``directory=True`` the temporary path is an (empty, created) folder, and an existing
    folder at ``path`` is replaced. On an exception the temporary file or folder is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                    dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.",
                                    suffix=".tmp" + path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                remove_path(old)
                os.replace(path, old)
                os.replace(tmp, path)
                remove_path(old)
            else:
                os.replace(tmp, path)
        else:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise


def temp_file_owner(path: str | os.PathLike) -> int | None:
    """The pid in the name :func:`atomic_path` gave a temporary file or folder, if any."""
    match = re.search(r"\.(\d+)\.[^.]+\.tmp(\.[^.]*)?$", Path(path).name)
    return int(match.group(1)) if match else None


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a temporary of :func:`atomic_path` (``.name.*.tmp*``)."""
    name = Path(path).name
    return name.startswith(".") and ".tmp" in name


def remove_temporaries(folder: str | os.PathLike, pattern: str = ".*.tmp*", *,
                       recursive: bool = False, locked: bool = False,
                       unnamed_after: float | None = None) -> list[Path]:
    """Remove the temporary files and folders of :func:`atomic_path` in ``folder`` whose writer
    is gone.

    One naming a live other process is kept; one naming a dead process is removed. This
    process's own, and those naming no process, are removed only with ``locked=True`` (the
    caller holds the folder's lock, so they are a killed session's), or, for those naming no
    process, once older than ``unnamed_after`` seconds.

    Returns:
        What was removed.
    """
    removed = []
    found = Path(folder).rglob(pattern) if recursive else Path(folder).glob(pattern)
    for path in sorted(found, reverse=True):   # a folder's contents before the folder
        owner = temp_file_owner(path)
        try:
            if owner is not None and owner != os.getpid():
                gone = not process_alive(owner)
            else:
                gone = locked or (owner is None and unnamed_after is not None
                                  and time.time() - path.stat().st_mtime > unnamed_after)
        except OSError:
            continue  # removed meanwhile
        if gone and is_temporary(path):
            remove_path(path)
            removed.append(path)
    return removed


def remove_path(path: Path) -> None:
    """Delete a file or a whole folder; one already gone is fine."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically and return the path."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default)
    return write_bytes_atomic(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, paths: what metadata in this package holds.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Cannot write {type(obj).__name__} as JSON")


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks (memory stays flat for large files)."""
    import hashlib

    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keras_verbosity(verbose: int | str) -> int:
    """Keras ``fit`` verbosity for ``verbose`` (``"auto"``, 0, 1 or 2)."""
    # A progress bar redraws itself on a terminal; in a notebook or a log file it would print
    # one line per batch, so there it is level 2 (see one_line_per_run for what is printed).
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


class LockedError(RuntimeError):
    """Another live process holds the lock of a folder (see :func:`folder_lock`)."""


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (``False`` for this very process)."""
    if pid == os.getpid():
        return False  # our own stale lock, e.g. from an interrupted notebook cell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def lock_owner(folder: str | os.PathLike, name: str = "training.lock") -> int | None:
    """The pid of the live process holding ``folder``'s lock (0: not named yet), or ``None``."""
    lock = Path(folder) / name
    try:
        owner = lock.read_text().strip()
        if not owner and time.time() - lock.stat().st_mtime < 10:
            return 0  # just created: its owner is writing its pid
    except OSError:
        return None
    return int(owner) if owner.isdigit() and process_alive(int(owner)) else None


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str, *, name: str = "training.lock",
                error: type[Exception] = LockedError) -> Iterator[Path]:
    """Hold ``folder/name`` (it names this process) while the block runs, so that two processes
    training into one folder do not overwrite each other's checkpoints.

    One left by a dead process is taken over. ``what`` names the folder's content for the
    message (e.g. ``"the GAN run"``).

    Raises:
        error: another live process holds the lock (the message names its pid).
    """
    lock = Path(folder) / name
    lock.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = lock_owner(folder, name)
            if owner is not None or attempt:
                raise error(
                    f"Another process (pid {owner}) is training {what} in {folder}. Wait for "
                    f"it to finish, or stop it; if no such process exists, delete {lock}."
                ) from None
            lock.unlink(missing_ok=True)
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def one_line_per_run(verbose: int | str) -> bool:
    """Whether a training call prints one line for the whole run (``"auto"`` off a terminal).

    That line says what trains when it starts and is completed by :func:`format_run_line`;
    the per-epoch numbers stay in the run's history. On a terminal ``"auto"`` shows Keras's
    progress bar; ``2`` asks for one line per epoch anywhere.

    Example:
        >>> one_line_per_run(2), one_line_per_run(0)
        (False, False)
    """
    return verbose == "auto" and not sys.stdout.isatty()


def fit_verbosity(verbose: int | str) -> tuple[int, list[Any]]:
    """Keras ``fit`` verbosity and the callbacks that print for it, for ``verbose``.

    For ``2`` Keras (whose own level 2 prints two lines an epoch) is kept silent and
    :func:`epoch_line_callback` prints one line an epoch; ``"auto"`` off a terminal keeps
    Keras silent too (:func:`one_line_per_run`).

    Returns:
        ``(verbosity for fit, extra callbacks)``.
    """
    if one_line_per_run(verbose):
        return 0, []
    level = keras_verbosity(verbose)
    if level == 2:
        return 0, [epoch_line_callback()]
    return level, []


def _numbers(logs: dict[str, Any] | None) -> list[str]:
    """``key value`` for each scalar in ``logs`` (numbers to 4 digits)."""
    numbers = []
    for key, value in (logs or {}).items():
        try:
            numbers.append(f"{key} {float(value):.4g}")
        except (TypeError, ValueError):
            continue  # not a scalar: not for a one-line summary
    return numbers


def format_epoch_line(epoch: int, epochs: int | None, steps: int | None, seconds: float,
                      logs: dict[str, Any] | None) -> str:
    """``epoch 2/5: 20 steps in 3.1 s; loss 0.6931, accuracy 0.5`` (numbers to 4 digits)."""
    numbers = _numbers(logs)
    of = f"/{epochs}" if epochs else ""
    done = f"{steps} steps in {seconds:.1f} s" if steps else f"{seconds:.1f} s"
    return f"epoch {epoch + 1}{of}: {done}" + (f"; {', '.join(numbers)}" if numbers else "")


def _duration(seconds: float) -> str:
    """``41.2 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_run_line(seconds: float, history: dict[str, Any], *, start: int = 0) -> str:
    """The end of a training run's one line (after what trains): its time and final metrics.

    Args:
        seconds: Wall time of this call's training.
        history: Per-epoch lists of metrics; ``seconds`` and per-step lists (``step_*``) are
            left out.
        start: Epochs finished before this call (a resumed run).

    Returns:
        Text starting with ``" -> "``; no line break.

    Example:
        >>> format_run_line(185.4, {"loss": [0.69, 0.2134], "val_accuracy": [0.5, 0.91],
        ...                         "seconds": [90.0, 95.4]})
        ' -> 2 epochs in 3 min 05 s; last epoch: loss 0.2134, val_accuracy 0.91'
        >>> format_run_line(12.0, {"loss": [0.5, 0.4, 0.3]}, start=2)
        ' -> epoch 3 (resumed after epoch 2) in 12.0 s; last epoch: loss 0.3'
    """
    per_epoch = {key: values for key, values in history.items()
                 if key != "seconds" and not key.startswith("step_")
                 and isinstance(values, (list, tuple)) and values}
    numbers = _numbers({key: values[-1] for key, values in per_epoch.items()})
    done = max((len(values) for values in per_epoch.values()), default=start)
    if start:
        span = f"epoch {done}" if done == start + 1 else f"epochs {start + 1}-{done}"
        what = f"{span} (resumed after epoch {start})"
    else:
        what = f"{done} epoch{'s' if done != 1 else ''}"
    return (f" -> {what} in {_duration(seconds)}"
            + (f"; last epoch: {', '.join(numbers)}" if numbers else ""))


def epoch_line_callback():
    """A Keras callback printing :func:`format_epoch_line` at the end of each epoch."""
    import keras

    class EpochLine(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - getattr(self, "_began", time.perf_counter())
            params = self.params or {}
            print(format_epoch_line(epoch, params.get("epochs"), params.get("steps"), seconds,
                                    logs), flush=True)

    return EpochLine()
