"""Steps per second of a ``fit()``, measured by a callback, after warm-up steps.

The callback brackets every training step (``on_train_batch_begin`` to ``on_train_batch_end``)
and reads the step's first logged loss as a Python float at its end. Reading the loss waits for
the step to finish on the device, so the time is the step's real cost even on a GPU, whose
work is otherwise queued asynchronously; it also lets the benchmarks reject non-finite losses.
Time spent between steps (validation, checkpoints, the per-epoch image grid) is not counted:
it is reported separately by the benchmarks that care.

Keras is imported only when the callback is made, so ``KERAS_BACKEND`` can be set first.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

__all__ = ["step_timer", "summarise_steps"]


def step_timer(warmup: int = 3, loss_key: str | None = None, budget_s: float | None = None):
    """A Keras callback recording each step's duration and loss.

    Args:
        warmup: Steps at the start (across epochs) that are not timed: the first steps trace
            and compile the train function.
        loss_key: The log entry read at the end of each step (default: the first one logged).
        budget_s: Stop training once this many seconds have passed since the first step and
            at least one step was timed (for variants that are very slow on some machines).

    Returns:
        A callback with ``durations`` (seconds of the timed steps), ``losses`` (every step's
        loss) and :meth:`summary`.
    """
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.warmup = int(warmup)
            self.loss_key = loss_key
            self.durations: list[float] = []
            self.losses: list[float] = []
            self.steps_seen = 0
            self._began = 0.0
            self._first = None
            self.stopped_early = False

        def on_train_batch_begin(self, batch, logs=None):
            self._began = time.perf_counter()
            if self._first is None:
                self._first = self._began

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            key = self.loss_key or next(iter(logs), None)
            # float() waits for the device: the step is finished when the clock stops.
            value = float(logs[key]) if key is not None else float("nan")
            elapsed = time.perf_counter() - self._began
            self.steps_seen += 1
            self.losses.append(value)
            if self.steps_seen > self.warmup:
                self.durations.append(elapsed)
                if budget_s is not None and time.perf_counter() - self._first > budget_s:
                    self.stopped_early = True
                    self.model.stop_training = True  # fit() ends after this step

        def summary(self) -> dict[str, Any]:
            return summarise_steps(self.durations, self.losses)

    return StepTimer()


def summarise_steps(durations: list[float], losses: list[float] | None = None) -> dict[str, Any]:
    """Steps per second from step durations: the mean rate and the median step.

    Returns:
        ``timed_steps``, ``steps_per_s`` (timed steps / their total time), ``median_step_s``,
        ``min_step_s``, ``max_step_s`` and ``finite`` (all losses finite).
    """
    losses = losses or []
    finite = all(math.isfinite(v) for v in losses)
    if not durations:
        return {"timed_steps": 0, "steps_per_s": float("nan"), "median_step_s": float("nan"),
                "min_step_s": float("nan"), "max_step_s": float("nan"), "finite": finite}
    return {
        "timed_steps": len(durations),
        "steps_per_s": len(durations) / sum(durations),
        "median_step_s": statistics.median(durations),
        "min_step_s": min(durations),
        "max_step_s": max(durations),
        "finite": finite,
        "last_loss": losses[-1] if losses else None,
    }
