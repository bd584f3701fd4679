"""Fetching real CelebA for readers on Colab (or anywhere with a Kaggle account).

CelebA's original Google Drive links often fail with quota errors; the Kaggle copy
``jessicali9530/celeba-dataset`` is the reliable source, and ``kagglehub`` downloads it without
an API key on Colab. This module is optional: nothing else in the package, and no test, calls it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "download_celeba",
]

#: The Kaggle data set holding CelebA (images, attributes, partitions) in the Kaggle layout.
KAGGLE_DATASET = "jessicali9530/celeba-dataset"


def download_celeba(path: str | os.PathLike | None = None) -> Path:
    """Download CelebA from Kaggle (1.4 GB) and return the folder :func:`load_celeba` reads.

    Args:
        path: Where to move or link the downloaded folder (keep it on the local disk: reading
            202,599 small files from Google Drive is very slow). Default: ``kagglehub``'s own
            cache (``~/.cache/kagglehub``), reused instead of downloading again.

    Returns:
        The CelebA root in the Kaggle layout (``img_align_celeba/img_align_celeba/`` beside
        ``list_attr_celeba.csv`` and ``list_eval_partition.csv``).

    Raises:
        ImportError: ``kagglehub`` is not installed (``pip install "celeba-lab[colab]"``).
        FileExistsError: ``path`` exists and is not the downloaded folder.

    Example:
        >>> import celeba_lab as cl
        >>> root = cl.download_celeba()      # downloads 1.4 GB from Kaggle: # doctest: +SKIP
        >>> data = cl.load_celeba(root)      # as above: # doctest: +SKIP
    """
    try:
        import kagglehub
    except ImportError:
        raise ImportError(
            "Downloading CelebA needs kagglehub: pip install 'celeba-lab[colab]' (or pip install "
            "kagglehub). Without it, download the Kaggle copy 'jessicali9530/celeba-dataset' by "
            "hand and pass its folder to load_celeba, or omit the root to use the synthetic set."
        ) from None
    root = Path(kagglehub.dataset_download(KAGGLE_DATASET))
    if path is None:
        return root
    target = Path(path).expanduser()
    if target.exists():
        if target.resolve() == root.resolve():
            return target
        raise FileExistsError(f"{target} already exists; pass another path, or none to use "
                              f"kagglehub's folder {root}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(root, target_is_directory=True)
    except OSError:   # no symlinks (e.g. some Windows set-ups): move the files instead
        import shutil

        shutil.move(str(root), str(target))
    return target
