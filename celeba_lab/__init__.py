"""celeba_lab: face-attribute classifiers and face generators on CelebA, the package of the book.

Type ``import celeba_lab as cl`` and use ``cl.load_celeba``, ``cl.balanced_sample``,
``cl.train_classifier``, ``cl.train_gan`` and the rest of the public API: the names in
:data:`_API` below, each mapped to the module that defines it (the book's API chapter documents
them module by module). Anything else is internal and may change.

Names are loaded lazily: importing the package is instant and starts Keras only when a name
from a module that needs it is used, so ``python -m celeba_lab synth`` and the data layer work
on a machine without TensorFlow. The ``TYPE_CHECKING`` imports at the end repeat the table for
editors and static tools, which follow ``cl.train_gan`` to its definition;
``tests/test_public_api.py`` keeps the two, and each module's ``__all__``, in agreement.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Every public name -> the module (under ``celeba_lab``) that defines it.
_API: dict[str, str] = {
    # attributes: CelebA's facts
    "ATTRIBUTES": "attributes", "PARTITIONS": "attributes", "PARTITION_SIZES": "attributes",
    "N_IMAGES": "attributes", "IMAGE_SHAPE": "attributes", "HAIR_COLOURS": "attributes",
    "REPORT_ATTRIBUTES": "attributes",
    # config: settings and profiles
    "Profile": "config", "PROFILES": "config", "REPOSITORY_URL": "config", "get_profile": "config",
    "set_profile": "config", "data_root": "config", "set_data_root": "config",
    "cache_dir": "config", "set_cache_dir": "config", "runs_dir": "config",
    # environment: notebook set-up
    "Environment": "environment", "setup": "environment",
    # data: reading CelebA, balanced samples
    "CelebA": "data", "load_celeba": "data", "check_attribute": "data",
    "LAYOUT_DESCRIPTIONS": "data", "attribute_prevalence": "data", "CELEBA_PREVALENCE": "data",
    "CELEBA_PREVALENCE_BY_SEX": "data", "CELEBA_TEST_PREVALENCE": "data", "BalancedSample": "data",
    "balanced_sample": "data", "sample_summary": "data", "CelebAError": "data",
    "DataNotFoundError": "data", "AnnotationError": "data", "UnknownAttributeError": "data",
    "MissingImagesError": "data", "CorruptImageError": "data", "NotEnoughImagesError": "data",
    "CacheWriteError": "data",
    # synthetic: the synthetic CelebA
    "write_synthetic_celeba": "synthetic", "ensure_synthetic_celeba": "synthetic",
    "synthetic_info": "synthetic", "sample_attributes": "synthetic",
    "synthetic_prevalence_table": "synthetic", "PREVALENCE": "synthetic",
    "CONDITIONAL": "synthetic",
    # faces: drawing its faces
    "draw_face": "faces",
    # download: real CelebA
    "download_celeba": "download",
    # images: decoding
    "decode_image": "images",
    # cache: the decoded-image cache
    "decoded_images": "cache", "load_images_in_memory": "cache",
    # batches: batch pipelines
    "ImageBatches": "batches", "classifier_batches": "batches", "gan_batches": "batches",
    "trace_streaming_memory": "batches", "trace_in_memory_loading": "batches",
    # classifiers: the attribute classifiers
    "RECIPES": "classifiers", "TrainedClassifier": "classifiers",
    "report_classifier": "classifiers", "improved_classifier": "classifiers",
    "build_classifier": "classifiers", "count_parameters": "classifiers",
    "train_classifier": "classifiers", "load_classifier": "classifiers",
    "predict_scores": "classifiers", "classifier_embedding": "classifiers",
    # classifier_runs: their run folders' errors
    "ClassifierError": "classifier_runs", "ClassifierBusyError": "classifier_runs",
    "ClassifierNotFoundError": "classifier_runs", "CorruptClassifierError": "classifier_runs",
    "NotTrainedError": "classifier_runs", "InputShapeError": "classifier_runs",
    # evaluation: metrics and evaluation
    "REPORT_RESULTS": "evaluation", "REPORT_SETTINGS": "evaluation",
    "REPORT_METRICS": "evaluation", "ClassifierEvaluation": "evaluation",
    "confusion_matrix": "evaluation", "classification_metrics": "evaluation",
    "majority_baseline": "evaluation", "evaluate_classifier": "evaluation",
    "evaluate_balanced_test": "evaluation", "evaluate_natural_test": "evaluation",
    "report_comparison": "evaluation", "accuracy_interval": "evaluation",
    # narrative: sentences computed from results
    "lowest_attributes": "narrative", "learning_sentence": "narrative",
    "recipe_comparison_sentence": "narrative", "report_comparison_sentence": "narrative",
    "hardest_attribute_sentence": "narrative",
    # gan: the DCGAN
    "LATENT_DIM": "gan", "IMAGE_SIZE": "gan", "IMAGE_SIZES": "gan", "GANRecipe": "gan",
    "GAN_RECIPES": "gan", "gan_recipe": "gan", "DEFAULT_CONDITIONS": "gan", "STABILISERS": "gan",
    "DEFAULT_STABILISERS": "gan", "LABEL_SMOOTHING": "gan", "report_generator": "gan",
    "report_discriminator": "gan", "stabilised_discriminator": "gan",
    "conditional_generator": "gan", "conditional_discriminator": "gan", "MinibatchStdDev": "gan",
    "DCGAN": "gan", "ConditionalDCGAN": "gan", "latent_noise": "gan", "condition_matrix": "gan",
    "generate_images": "gan",
    # gan_images: what a generator draws
    "interpolate_latents": "gan_images", "latent_walk": "gan_images", "image_grid": "gan_images",
    # gan_training: training runs
    "GANRun": "gan_training", "build_gan": "gan_training", "stabilisers": "gan_training",
    "train_gan": "gan_training", "default_run_dir": "gan_training", "load_gan_run": "gan_training",
    "load_generator": "gan_training",
    # gan_checkpoints: checkpoints
    "CheckpointError": "gan_checkpoints", "save_checkpoint": "gan_checkpoints",
    # learned: has a generator learned?
    "GeneratorCheck": "learned", "NotLearnedError": "learned", "check_generator": "learned",
    "require_learned": "learned", "learning_table": "learned",
    # toy: mode collapse on a ring of Gaussians
    "MODES": "toy", "ring_of_gaussians": "toy", "mode_cells": "toy", "ToyRun": "toy",
    "train_toy_gan": "toy", "toy_collapse_table": "toy",
    # collapse.cells
    "HAIR_CATEGORIES": "collapse.cells", "SEX_HAIR_CELLS": "collapse.cells",
    "MEASURED_ATTRIBUTES": "collapse.cells", "MissingClassifierError": "collapse.cells",
    "predicted_labels": "collapse.cells", "sex_hair_cells": "collapse.cells",
    "cell_shares": "collapse.cells", "attribute_shares": "collapse.cells",
    "attribute_share_table": "collapse.cells", "attribute_balanced_ids": "collapse.cells",
    "balance_table": "collapse.cells", "feasible_sizes": "collapse.cells",
    # collapse.bootstrap
    "Estimate": "collapse.bootstrap", "bootstrap_ci": "collapse.bootstrap",
    # collapse.correction
    "cell_confusion_matrix": "collapse.correction",
    "correct_for_misclassification": "collapse.correction", "rogan_gladen": "collapse.correction",
    "classifier_error_rates": "collapse.correction",
    "corrected_share_table": "collapse.correction",
    # collapse.distances
    "KernelDistance": "collapse.distances", "Memorisation": "collapse.distances",
    "total_variation": "collapse.distances", "tv_with_ci": "collapse.distances",
    "tv_noise_floor": "collapse.distances", "diversity_score": "collapse.distances",
    "nearest_neighbours": "collapse.distances", "memorisation_ratio": "collapse.distances",
    "frechet_distance": "collapse.distances", "kernel_distance": "collapse.distances",
    # collapse.features
    "ImageSizeMismatchError": "collapse.features",
    "InceptionUnavailableError": "collapse.features", "AttributeMeter": "collapse.features",
    "Measurement": "collapse.features", "measure_real_faces": "collapse.features",
    "classifier_features": "collapse.features", "inception_features": "collapse.features",
    # collapse.instrument
    "TVEstimate": "collapse.instrument", "ValidationSource": "collapse.instrument",
    "corrected_cell_shares": "collapse.instrument", "estimate_tv": "collapse.instrument",
    "validation_sources": "collapse.instrument", "validate_instrument": "collapse.instrument",
    "detectable_shift": "collapse.instrument",
    # collapse.simulation
    "compare_estimators": "collapse.simulation",
    # collapse.report
    "SourceSample": "collapse.report", "condition_agreement": "collapse.report",
    "collapse_report": "collapse.report", "format_collapse_report": "collapse.report",
    # plots.data
    "plot_face_grid": "plots.data", "plot_prevalence": "plots.data",
    "plot_attribute_correlation": "plots.data", "correlated_attributes": "plots.data",
    "plot_prevalence_by": "plots.data", "plot_partition_sizes": "plots.data",
    "plot_balanced_sample": "plots.data", "plot_memory": "plots.data",
    # plots.classifiers
    "architecture_table": "plots.classifiers", "plot_labelled_faces": "plots.classifiers",
    "plot_learning_curves": "plots.classifiers", "plot_confusion_matrix": "plots.classifiers",
    "plot_confusion_matrices": "plots.classifiers", "plot_confident_errors": "plots.classifiers",
    "plot_recipe_comparison": "plots.classifiers",
    # plots.gan
    "plot_epoch_grids": "plots.gan", "animate_epoch_grids": "plots.gan",
    "show_animation": "plots.gan", "plot_gan_losses": "plots.gan", "plot_samples": "plots.gan",
    "plot_latent_walk": "plots.gan", "plot_conditional_samples": "plots.gan",
    # plots.collapse
    "plot_attribute_shares": "plots.collapse", "plot_cell_heatmaps": "plots.collapse",
    "plot_cell_confusion": "plots.collapse", "plot_nearest_neighbours": "plots.collapse",
    "plot_remedy_samples": "plots.collapse", "plot_condition_grid": "plots.collapse",
    "plot_instrument_validation": "plots.collapse",
    # plots.toy
    "plot_toy_snapshots": "plots.toy", "plot_toy_distance": "plots.toy",
    # plots.performance
    "plot_data_throughput": "plots.performance", "plot_data_memory": "plots.performance",
    "plot_training_speed": "plots.performance", "plot_recipe_projection": "plots.performance",
    "plot_chapter_memory": "plots.performance",
}

#: Old names kept for one release -> their new names: calling one warns, then does the same.
_DEPRECATED: dict[str, str] = {
    "seed_classifier": "report_classifier",
    "seed_generator": "report_generator",
    "seed_discriminator": "report_discriminator",
}

#: The package's modules, reachable as ``cl.<module>`` (``cl.config``, ``cl.plots``, ...).
_SUBMODULES = (
    "attributes", "config", "environment", "data", "synthetic", "faces", "download", "images",
    "cache", "batches", "classifiers", "classifier_runs", "evaluation", "narrative", "gan",
    "gan_images", "gan_training", "gan_checkpoints", "gan_backends", "runs", "learned", "toy",
    "collapse", "plots",
)

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        module = importlib.import_module(f"{__name__}.{_API[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _DEPRECATED:  # the old function, beside the new one: calling it warns
        return getattr(importlib.import_module(f"{__name__}.{_API[_DEPRECATED[name]]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'celeba_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API, *_SUBMODULES})


if TYPE_CHECKING:
    from .attributes import (
        ATTRIBUTES, PARTITIONS, PARTITION_SIZES, N_IMAGES, IMAGE_SHAPE, HAIR_COLOURS,
        REPORT_ATTRIBUTES,
    )
    from .config import (
        Profile, PROFILES, REPOSITORY_URL, get_profile, set_profile, data_root, set_data_root,
        cache_dir, set_cache_dir, runs_dir,
    )
    from .environment import (
        Environment, setup,
    )
    from .data import (
        CelebA, load_celeba, check_attribute, LAYOUT_DESCRIPTIONS, attribute_prevalence,
        CELEBA_PREVALENCE, CELEBA_PREVALENCE_BY_SEX, CELEBA_TEST_PREVALENCE, BalancedSample,
        balanced_sample, sample_summary, CelebAError, DataNotFoundError, AnnotationError,
        UnknownAttributeError, MissingImagesError, CorruptImageError, NotEnoughImagesError,
        CacheWriteError,
    )
    from .synthetic import (
        write_synthetic_celeba, ensure_synthetic_celeba, synthetic_info, sample_attributes,
        synthetic_prevalence_table, PREVALENCE, CONDITIONAL,
    )
    from .faces import (
        draw_face,
    )
    from .download import (
        download_celeba,
    )
    from .images import (
        decode_image,
    )
    from .cache import (
        decoded_images, load_images_in_memory,
    )
    from .batches import (
        ImageBatches, classifier_batches, gan_batches, trace_streaming_memory,
        trace_in_memory_loading,
    )
    from .classifiers import (
        RECIPES, TrainedClassifier, report_classifier, improved_classifier, build_classifier,
        count_parameters, train_classifier, load_classifier, predict_scores, classifier_embedding,
    )
    from .classifier_runs import (
        ClassifierError, ClassifierBusyError, ClassifierNotFoundError, CorruptClassifierError,
        NotTrainedError, InputShapeError,
    )
    from .evaluation import (
        REPORT_RESULTS, REPORT_SETTINGS, REPORT_METRICS, ClassifierEvaluation, confusion_matrix,
        classification_metrics, majority_baseline, evaluate_classifier, evaluate_balanced_test,
        evaluate_natural_test, report_comparison, accuracy_interval,
    )
    from .narrative import (
        lowest_attributes, learning_sentence, recipe_comparison_sentence,
        report_comparison_sentence, hardest_attribute_sentence,
    )
    from .gan import (
        LATENT_DIM, IMAGE_SIZE, IMAGE_SIZES, GANRecipe, GAN_RECIPES, gan_recipe, DEFAULT_CONDITIONS,
        STABILISERS, DEFAULT_STABILISERS, LABEL_SMOOTHING, report_generator, report_discriminator,
        stabilised_discriminator, conditional_generator, conditional_discriminator, MinibatchStdDev,
        DCGAN, ConditionalDCGAN, latent_noise, condition_matrix, generate_images,
    )
    from .gan_images import (
        interpolate_latents, latent_walk, image_grid,
    )
    from .gan_training import (
        GANRun, build_gan, stabilisers, train_gan, default_run_dir, load_gan_run, load_generator,
    )
    from .gan_checkpoints import (
        CheckpointError, save_checkpoint,
    )
    from .learned import (
        GeneratorCheck, NotLearnedError, check_generator, require_learned, learning_table,
    )
    from .toy import (
        MODES, ring_of_gaussians, mode_cells, ToyRun, train_toy_gan, toy_collapse_table,
    )
    from .collapse.cells import (
        HAIR_CATEGORIES, SEX_HAIR_CELLS, MEASURED_ATTRIBUTES, MissingClassifierError,
        predicted_labels, sex_hair_cells, cell_shares, attribute_shares, attribute_share_table,
        attribute_balanced_ids, balance_table, feasible_sizes,
    )
    from .collapse.bootstrap import (
        Estimate, bootstrap_ci,
    )
    from .collapse.correction import (
        cell_confusion_matrix, correct_for_misclassification, rogan_gladen, classifier_error_rates,
        corrected_share_table,
    )
    from .collapse.distances import (
        KernelDistance, Memorisation, total_variation, tv_with_ci, tv_noise_floor, diversity_score,
        nearest_neighbours, memorisation_ratio, frechet_distance, kernel_distance,
    )
    from .collapse.features import (
        ImageSizeMismatchError, InceptionUnavailableError, AttributeMeter, Measurement,
        measure_real_faces, classifier_features, inception_features,
    )
    from .collapse.instrument import (
        TVEstimate, ValidationSource, corrected_cell_shares, estimate_tv, validation_sources,
        validate_instrument, detectable_shift,
    )
    from .collapse.simulation import (
        compare_estimators,
    )
    from .collapse.report import (
        SourceSample, condition_agreement, collapse_report, format_collapse_report,
    )
    from .plots.data import (
        plot_face_grid, plot_prevalence, plot_attribute_correlation, correlated_attributes,
        plot_prevalence_by, plot_partition_sizes, plot_balanced_sample, plot_memory,
    )
    from .plots.classifiers import (
        architecture_table, plot_labelled_faces, plot_learning_curves, plot_confusion_matrix,
        plot_confusion_matrices, plot_confident_errors, plot_recipe_comparison,
    )
    from .plots.gan import (
        plot_epoch_grids, animate_epoch_grids, show_animation, plot_gan_losses, plot_samples,
        plot_latent_walk, plot_conditional_samples,
    )
    from .plots.collapse import (
        plot_attribute_shares, plot_cell_heatmaps, plot_cell_confusion, plot_nearest_neighbours,
        plot_remedy_samples, plot_condition_grid, plot_instrument_validation,
    )
    from .plots.toy import (
        plot_toy_snapshots, plot_toy_distance,
    )
    from .plots.performance import (
        plot_data_throughput, plot_data_memory, plot_training_speed, plot_recipe_projection,
        plot_chapter_memory,
    )
