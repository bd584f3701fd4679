"""Every figure the book shows, one submodule per part of the book.

Each function returns a :class:`matplotlib.figure.Figure` (or writes a file and returns its
path, for animations), so a chapter shows it, saves it, or glues it into its text. The
submodules import only matplotlib, seaborn, numpy and pandas at the top (the models they draw
are imported when a figure needs them), so ``import celeba_lab.plots`` starts no Keras.
"""

from __future__ import annotations

from .data import (
    plot_face_grid, plot_prevalence, plot_attribute_correlation, correlated_attributes,
    plot_prevalence_by, plot_partition_sizes, plot_balanced_sample, plot_memory,
)
from .classifiers import (
    architecture_table, plot_labelled_faces, plot_learning_curves, plot_confusion_matrix,
    plot_confusion_matrices, plot_confident_errors, plot_recipe_comparison,
)
from .gan import (
    plot_epoch_grids, animate_epoch_grids, show_animation, plot_gan_losses, plot_samples,
    plot_latent_walk, plot_conditional_samples,
)
from .collapse import (
    plot_attribute_shares, plot_cell_heatmaps, plot_cell_confusion, plot_nearest_neighbours,
    plot_remedy_samples, plot_condition_grid, plot_instrument_validation, plot_backgrounds,
    plot_faces_by_cell, plot_reading_check,
)
from .toy import (
    plot_toy_snapshots, plot_toy_distance,
)
from .performance import (
    plot_data_throughput, plot_data_memory, plot_training_speed, plot_recipe_projection,
    plot_chapter_memory,
)

__all__ = [
    "plot_face_grid", "plot_prevalence", "plot_attribute_correlation", "correlated_attributes",
    "plot_prevalence_by", "plot_partition_sizes", "plot_balanced_sample", "plot_memory",
    "architecture_table", "plot_labelled_faces", "plot_learning_curves", "plot_confusion_matrix",
    "plot_confusion_matrices", "plot_confident_errors", "plot_recipe_comparison",
    "plot_epoch_grids", "animate_epoch_grids", "show_animation", "plot_gan_losses", "plot_samples",
    "plot_latent_walk", "plot_conditional_samples", "plot_attribute_shares", "plot_cell_heatmaps",
    "plot_cell_confusion", "plot_nearest_neighbours", "plot_remedy_samples", "plot_condition_grid",
    "plot_instrument_validation", "plot_backgrounds", "plot_faces_by_cell", "plot_reading_check",
    "plot_toy_snapshots", "plot_toy_distance", "plot_data_throughput",
    "plot_data_memory", "plot_training_speed", "plot_recipe_projection", "plot_chapter_memory",
]
