"""The data layer works on a machine without TensorFlow (JAX or PyTorch users, GPU boxes)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["tensorflow"] = None   # any `import tensorflow` now raises ImportError
    import celeba_lab as cl
    root = cl.write_synthetic_celeba(sys.argv[1], n=300, seed=1)
    data = cl.load_celeba(root)
    sample = cl.balanced_sample(data, "Male", sizes=(40, 10, 10), seed=0)
    import celeba_lab.cache, celeba_lab.images
    assert "keras" not in sys.modules   # the data layer; only celeba_lab.batches imports Keras
    x, y = cl.classifier_batches(data, sample.train, batch_size=8)[0]
    assert x.shape == (8, 218, 178, 3) and y.shape == (8, 2), (x.shape, y.shape)
    x = cl.gan_batches(data, batch_size=4)[0]
    assert x.shape == (4, 64, 64, 3)
    assert "tensorflow" not in [m.split(".")[0] for m in sys.modules if sys.modules[m]]
    print("ok")
    """
)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_data_layer_without_tensorflow(backend, tmp_path, monkeypatch):
    if importlib.util.find_spec(backend) is None:
        pytest.fail(f"the {backend} backend is not installed: run `make install`")
    monkeypatch.setenv("KERAS_BACKEND", backend)
    monkeypatch.setenv("CELEBA_LAB_CACHE", str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "celeba")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
