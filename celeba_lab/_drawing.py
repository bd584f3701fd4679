"""Drawing processes for :func:`celeba_lab.synthetic.write_synthetic_celeba`.

Plain ``python -m celeba_lab._drawing`` programs, like the decoding workers of
:mod:`celeba_lab._decoding` (see there why). Each reads tasks from its stdin, one JSON line
each (``[first_image, [seed, rows, folder]]``, ``rows`` the 0/1 labels as strings), draws and
saves those images, and answers ``{"done": n}`` or the error it met.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from ._decoding import DecodingProcesses


class DrawingProcesses(DecodingProcesses):
    """``workers`` drawing processes; use as a context manager, ``run`` the tasks."""

    doing = "drawing"

    def __init__(self, workers: int) -> None:  # noqa: D107 (no base __init__ call: _start)
        self._start(["celeba_lab._drawing"], workers)


def _serve() -> None:
    from .faces import render_chunk

    for line in sys.stdin:
        start, (seed, rows, folder) = json.loads(line)
        labels = np.array([[c == "1" for c in row] for row in rows], dtype=bool)
        try:
            render_chunk((seed, start, labels, folder))
        except OSError as error:  # a full disk or a folder that went away: errno kept
            reply = {"error": "OSError", "errno": error.errno,
                     "message": error.strerror or str(error)}
        else:
            reply = {"done": len(rows)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
