"""Measuring mode collapse: attribute shares, divergence, diversity, memorisation, FID/KID.

The source report saw its DCGAN make "almost only women with blond or dark hair" and could not
measure it. This package turns that impression into numbers, with the book's own attribute
classifiers as the measuring instrument:

1. **Who is generated** (:mod:`celeba_lab.collapse.cells`, :mod:`celeba_lab.collapse.features`).
   :class:`AttributeMeter` runs the classifiers for Male, Eyeglasses, Smiling and the four hair
   colours on any faces (generated or real) and returns per-image probabilities;
   :func:`predicted_labels` turns them into 0/1 labels with the same columns as CelebA's
   annotations, so real and generated faces go through the same functions
   (:func:`hair_colour`, :func:`sex_hair_cells`, :func:`attribute_shares`).
2. **How far from the real data** (:mod:`celeba_lab.collapse.distances`,
   :mod:`celeba_lab.collapse.correction`, :mod:`celeba_lab.collapse.bootstrap`).
   :func:`total_variation` between the distributions over the ten joint sex x hair-colour
   cells, with a bootstrap interval (:func:`tv_with_ci`). The classifiers make mistakes;
   :func:`correct_for_misclassification` removes their known error rates from the observed
   shares (the classic correction for a misclassifying instrument).
3. **Is the instrument good enough** (:mod:`celeba_lab.collapse.instrument`,
   :mod:`celeba_lab.collapse.simulation`). :func:`estimate_tv` (maximum likelihood with a
   confidence belt), its validation on held-out real faces (:func:`validate_instrument`) and
   the simulation harness that chose it (:func:`compare_estimators`).
4. **How varied, and is it copying** (:mod:`celeba_lab.collapse.distances`).
   :func:`diversity_score` (mean pairwise distance: identical faces score exactly zero) and
   :func:`nearest_neighbours` / :func:`memorisation_ratio`.
5. **How good** (:mod:`celeba_lab.collapse.distances`, :mod:`celeba_lab.collapse.features`).
   :func:`frechet_distance` (the FID formula) and :func:`kernel_distance` (KID) on classifier
   features (:func:`classifier_features`: the book's own models compared with each other) or
   Inception features (:func:`inception_features`: the only ones comparable with published
   numbers).
6. **Background colour** (:mod:`celeba_lab.collapse.background`): cells read from pixels with
   no instrument error (:func:`background_cells`, :func:`background_tv`).
7. **The chapter's table** (:mod:`celeba_lab.collapse.report`): :func:`collapse_report` and
   :func:`format_collapse_report`.

Every public name is importable from here (``from celeba_lab.collapse import total_variation``).
Everything but the model calls is numpy/pandas; Keras is imported only where a model is run.
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
from .distances import frechet_distance_from_moments, pixel_diversity
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
