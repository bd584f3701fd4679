"""Run the draft's code cells as a plain script on the synthetic set (no training).

The classifiers are replaced by a weakened instrument: measured cells drawn from the annotated
ones through a confusion matrix as poor as the real one (ten-cell accuracy 0.484). Usage:
    PYTHONPATH=. python book/_drafts/run_instrument_validation.py
"""
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import celeba_lab as cl

store = {}
glue = lambda name, value, display=False: store.__setitem__(name, value)  # noqa: E731
md = glue


def show(name, fig):
    store[name] = fig


data = cl.load_celeba(cl.write_synthetic_celeba(Path(tempfile.mkdtemp()) / "celeba", n=3000,
                                                 workers=1))
N, N_BOOT, LEVEL = 300, 200, 0.95
weak = cl.simulated_confusion()
test_ids = data.split("test")
true_cells = cl.sex_hair_cells(data.attributes.loc[test_ids])
confusion = cl.cell_confusion_matrix(true_cells, cl.simulate_measured_cells(true_cells, weak, seed=1))
confusion = confusion.fillna(weak)  # a rare cell the small test partition lacks
true_cells = np.maximum(cl.cell_shares(true_cells).to_numpy() * len(true_cells), 1)
real_cells = cl.sex_hair_cells(data.attributes)
held_ids = data.split("validation")[:N]


class _Measured:
    def cells(self):
        return cl.simulate_measured_cells(cl.sex_hair_cells(data.attributes.loc[held_ids]),
                                          weak, seed=2)


held_out = _Measured()
text = Path(__file__).with_name("instrument_validation.md").read_text()
for cell in re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, re.S):
    exec("\n".join(l for l in cell.splitlines() if not l.startswith(":tags:")), globals())
print(validation.round(3).to_string())
print({k: v for k, v in store.items() if not hasattr(v, "savefig")})
store["fig_instrument"].savefig(sys.argv[1] if len(sys.argv) > 1 else "/tmp/instrument.png")
