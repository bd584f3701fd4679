"""Measuring mode collapse: attribute shares, divergence, diversity, memorisation, FID/KID.

The book's attribute classifiers are the measuring instrument: who is generated
(:mod:`~celeba_lab.collapse.cells`, :mod:`~celeba_lab.collapse.features`), how far from the
real data (:mod:`~celeba_lab.collapse.distances`, :mod:`~celeba_lab.collapse.correction`,
:mod:`~celeba_lab.collapse.bootstrap`), whether the instrument is good enough
(:mod:`~celeba_lab.collapse.instrument`, :mod:`~celeba_lab.collapse.simulation`), background
colour read exactly from pixels (:mod:`~celeba_lab.collapse.background`) and the chapter's
table (:mod:`~celeba_lab.collapse.report`). Every public name is importable from here
(``from celeba_lab.collapse import total_variation``). Everything but the model calls is
numpy/pandas; Keras is imported only where a model is run.
"""

from __future__ import annotations

from . import (background, bootstrap, cells, correction, distances, features, instrument, report,
               simulation)
from .background import *  # noqa: F403
from .bootstrap import *  # noqa: F403  (each module's __all__: its public names)
from .cells import *  # noqa: F403
from .correction import *  # noqa: F403
from .distances import *  # noqa: F403
from .features import *  # noqa: F403
from .instrument import *  # noqa: F403
from .report import *  # noqa: F403
from .simulation import *  # noqa: F403

# Helpers reachable as collapse.<name> but not public (not in __all__, not cl.<name>).
from .cells import SEXES, cell_table, hair_colour, hair_colour_from_scores, joint_cells
from .distances import frechet_distance_from_moments
from .features import inception_weights_path, resize_faces, simulate_generator_resolution
from .instrument import (BELT_GRID, COLLAPSE_CELLS, SPARSITY, belt_path, check_confusion,
                         ml_cell_shares, shifted_shares)
from .report import INCEPTION_NA
from .simulation import (ESTIMATORS, simulate_estimators, simulate_measured_cells,
                         simulated_confusion, simulation_sources)

__all__: list[str] = []
__all__ += background.__all__
__all__ += bootstrap.__all__
__all__ += cells.__all__
__all__ += correction.__all__
__all__ += distances.__all__
__all__ += features.__all__
__all__ += instrument.__all__
__all__ += report.__all__
__all__ += simulation.__all__
