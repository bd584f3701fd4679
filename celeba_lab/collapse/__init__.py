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

from .background import BACKGROUND_CELLS, background_colours, background_cells, background_tv
from .bootstrap import Estimate, bootstrap_ci
from .cells import (HAIR_CATEGORIES, SEXES, SEX_HAIR_CELLS, MEASURED_ATTRIBUTES,
                    MissingClassifierError, hair_colour, hair_colour_from_scores,
                    predicted_labels, joint_cells, sex_hair_cells, cell_shares, cell_table,
                    attribute_shares, attribute_share_table, attribute_balanced_ids,
                    balance_table, feasible_sizes)
from .correction import (cell_confusion_matrix, correct_for_misclassification, rogan_gladen,
                         classifier_error_rates, corrected_share_table)
from .distances import (KernelDistance, Memorisation, total_variation, tv_with_ci, tv_noise_floor,
                        diversity_score, pixel_diversity, nearest_neighbours, memorisation_ratio,
                        frechet_distance, frechet_distance_from_moments, kernel_distance)
from .features import (ImageSizeMismatchError, InceptionUnavailableError, AttributeMeter,
                       Measurement, measure_real_faces, simulate_generator_resolution,
                       resize_faces, classifier_features, inception_features,
                       inception_weights_path)
from .instrument import (COLLAPSE_CELLS, SPARSITY, BELT_GRID, belt_path, TVEstimate,
                         ValidationSource, check_confusion, ml_cell_shares, corrected_cell_shares,
                         estimate_tv, validation_sources, validate_instrument, shifted_shares,
                         detectable_shift)
from .report import (INCEPTION_NA, SourceSample, condition_agreement, collapse_report,
                     format_collapse_report)
from .simulation import (ESTIMATORS, simulated_confusion, simulate_measured_cells,
                         simulation_sources, simulate_estimators, compare_estimators)

__all__ = [
    "Estimate", "bootstrap_ci", "HAIR_CATEGORIES", "SEX_HAIR_CELLS", "MEASURED_ATTRIBUTES",
    "MissingClassifierError", "predicted_labels", "sex_hair_cells", "cell_shares",
    "attribute_shares", "attribute_share_table", "attribute_balanced_ids", "balance_table",
    "feasible_sizes", "cell_confusion_matrix", "correct_for_misclassification", "rogan_gladen",
    "classifier_error_rates", "corrected_share_table", "KernelDistance", "Memorisation",
    "total_variation", "tv_with_ci", "tv_noise_floor", "diversity_score", "nearest_neighbours",
    "memorisation_ratio", "frechet_distance", "kernel_distance", "ImageSizeMismatchError",
    "InceptionUnavailableError", "AttributeMeter", "Measurement", "measure_real_faces",
    "classifier_features", "inception_features", "TVEstimate", "ValidationSource",
    "corrected_cell_shares", "estimate_tv", "validation_sources", "validate_instrument",
    "detectable_shift", "SourceSample", "condition_agreement", "collapse_report",
    "format_collapse_report", "compare_estimators", "BACKGROUND_CELLS", "background_colours",
    "background_cells", "background_tv",
]
