"""What the classifier test modules share: toy images, array batches, a trained small model,
tiny synthetic sets and an interrupting callback."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from celeba_lab import classifiers as C

SMALL = (40, 36, 3)  # the report's architecture at a small input size, for fast unit tests
TINY = dict(sizes=(20, 4, 4), image_size=(32, 32), batch_size=10, verbose=0)


class ArrayBatches(keras.utils.PyDataset):
    """Fixed (x, y) batches from arrays: a stand-in for the data layer's ImageBatches."""

    def __init__(self, x, y, batch_size=8):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def _toy_images(n, shape=SMALL, seed=0):
    """Images whose label is whether a bright square sits in the top-left corner."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.4, size=(n, *shape)).astype("float32")
    y = np.arange(n) % 2
    x[y == 1, : shape[0] // 2, : shape[1] // 2] += 0.6
    return x, y


def _one_hot(y):
    return np.eye(2, dtype="float32")[y]


@pytest.fixture(scope="module")
def trained_small():
    """A report-architecture model on small images after a few training steps."""
    keras.utils.set_random_seed(0)
    model = C.report_classifier(SMALL)
    x, y = _toy_images(32)
    model.fit(x, _one_hot(y), batch_size=16, epochs=2, verbose=0)
    return model


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    """Two 200-image synthetic sets of different seeds: cheap data for argument checks."""
    from celeba_lab.data import load_celeba
    from celeba_lab.synthetic import write_synthetic_celeba

    root = tmp_path_factory.mktemp("tiny")
    return tuple(load_celeba(write_synthetic_celeba(root / f"s{seed}", n=200, seed=seed,
                                                    workers=1)) for seed in (0, 1))


class _Stop(Exception):
    pass


class _StopAfterEpoch(keras.callbacks.Callback):
    """Interrupts training (raises :class:`_Stop`) when epoch ``n`` (1 for the first) ends."""

    def __init__(self, n: int = 1):
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise _Stop
