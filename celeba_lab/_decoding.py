"""Decoding processes for large image caches (used by :func:`celeba_lab.cache.decoded_images`).

The Pillow resize after a JPEG decode holds the GIL for much of each image: on this project's
2-core machine two threads decoded 64 x 64 images about 1.3x as fast as one, two processes 1.5
to 2x. The workers are plain ``python -m celeba_lab._decoding`` programs, not
``multiprocessing`` children: the caller's ``__main__`` is not imported again (a script without
an ``if __name__ == "__main__":`` guard works) and nothing is forked from a process running
TensorFlow's threads. Each reads tasks from its stdin, one JSON line each (``[first_row, [path,
...]]``), writes the pixels straight into the cache file at their rows, and answers one JSON
line: ``{"done": n}`` or the error it met. A worker whose stdin closes exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ._errors import BY_NAME, CelebAError
from .images import decode_image


def _serve(out_path: str, offset: int, height: int, width: int, crop: str) -> None:
    row_bytes = height * width * 3
    with open(out_path, "r+b") as out:
        for line in sys.stdin:
            first, paths = json.loads(line)
            reply = _decode_into(out, offset + first * row_bytes, paths, (height, width), crop)
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


def _decode_into(out, position: int, paths: list[str], size: tuple[int, int],
                 crop: str) -> dict:
    """Decode ``paths`` and write their pixels at ``position`` of ``out``; the reply."""
    block = np.empty((len(paths), *size, 3), dtype=np.uint8)
    try:
        for row, path in enumerate(paths):
            block[row] = decode_image(path, size, crop)
        out.seek(position)
        out.write(block.data)
        out.flush()
    except CelebAError as error:
        return {"error": type(error).__name__, "message": str(error)}
    except OSError as error:   # a full disk, say: the caller reports it (no second decoding)
        return {"error": "OSError", "errno": error.errno,
                "message": error.strerror or str(error)}
    return {"done": len(paths)}


class WorkerStopped(RuntimeError):
    """A decoding process ended without answering (it could not start, or was killed)."""


class DecodingProcesses:
    """``workers`` decoding processes filling one cache file; use as a context manager."""

    def __init__(self, out_path: Path, offset: int, size: tuple[int, int], crop: str,
                 workers: int) -> None:
        self._start(["celeba_lab._decoding", str(out_path), str(offset), str(size[0]),
                     str(size[1]), crop], workers)

    doing = "decoding"

    def _start(self, arguments: list[str], workers: int) -> None:
        command = [sys.executable, "-m", *arguments]
        # The workers import this very copy of the package, even one found through a
        # sys.path entry that the caller added (a source checkout that is not installed).
        here = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (here, os.environ.get("PYTHONPATH")) if p))
        self.processes: list[subprocess.Popen] = []
        try:
            for _ in range(workers):
                self.processes.append(subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                    bufsize=1, env=env))
        except OSError:
            self.__exit__()        # the ones already started stop when their stdin closes
            raise

    def run(self, tasks: Iterable[tuple[int, Callable[[], list[str]]]],
            done: Callable[[int], None]) -> None:
        """Decode every task ``(first_row, paths())``; call ``done(n)`` after each.

        Raises the first error (by row) any worker met, after stopping the others.
        """
        lock = threading.Lock()
        queue = iter(tasks)
        errors: list[tuple[int, Exception]] = []
        stop = threading.Event()    # an error, or the caller interrupted: take no more tasks

        def serve(process: subprocess.Popen) -> None:
            while True:
                with lock:
                    if errors or stop.is_set():
                        return
                    task = next(queue, None)
                if task is None:
                    return
                first, paths = task
                try:
                    process.stdin.write(json.dumps([first, paths()]) + "\n")
                    process.stdin.flush()
                    answer = process.stdout.readline()
                except OSError:        # its stdin is closed: it has ended
                    answer = ""
                if not answer:
                    with lock:
                        errors.append((first, WorkerStopped(
                            f"A {self.doing} process stopped (exit status {process.wait()}) "
                            f"while {self.doing} rows from {first}; see the messages above.")))
                    return
                reply = json.loads(answer)
                if "error" in reply:
                    with lock:
                        errors.append((first, _error(reply)))
                    return
                with lock:
                    done(reply["done"])

        with ThreadPoolExecutor(max_workers=len(self.processes)) as pool:
            futures = [pool.submit(serve, p) for p in self.processes]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                stop.set()
                raise
        if errors:
            raise min(errors, key=lambda e: e[0])[1]

    def __enter__(self) -> "DecodingProcesses":
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            try:
                process.stdin.close()
            except OSError:
                pass
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()


def _error(reply: dict) -> Exception:
    if reply["error"] == "OSError":    # errno kept: the caller tells a full disk apart
        code = reply.get("errno")
        return OSError(code, reply["message"]) if code is not None else OSError(reply["message"])
    return BY_NAME.get(reply["error"], CelebAError)(reply["message"])


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
