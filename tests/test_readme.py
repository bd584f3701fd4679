"""The README's "use the package in your own notebook" example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _notebook_example() -> str:
    text = README.read_text()
    section = text.split("## Use the package in your own notebook", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README lost its notebook example"
    return match.group(1)


@pytest.mark.slow
def test_readme_notebook_example_runs(tmp_cache, synthetic_root, monkeypatch, capsys):
    # The example's load_celeba() reads $CELEBA_ROOT; the session's synthetic set stands in
    # for the reader's CelebA so the test does not write another 10,000 images.
    monkeypatch.setenv("CELEBA_ROOT", str(synthetic_root))
    namespace: dict = {}
    exec(compile(_notebook_example(), str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "balanced_accuracy" in out
    # A reader's first minute ends with a model that learned something.
    assert namespace["result"].metrics["balanced_accuracy"] >= 0.7
    assert namespace["run"].path.is_relative_to(tmp_cache)
    assert namespace["figure"].axes, "the confusion-matrix figure is empty"
