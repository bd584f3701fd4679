"""Command line: ``python -m celeba_lab COMMAND`` (also installed as ``celeba-lab``).

Commands:
    synth ROOT        write a synthetic CelebA in the original (or Kaggle/torchvision) layout
    info [ROOT]       load a CelebA folder and summarise it (images, partitions, prevalences)
    download          fetch real CelebA with kagglehub (Colab; needs network and Kaggle access)
"""

from __future__ import annotations

import argparse
import sys
import time


def _synth(args: argparse.Namespace) -> int:
    from .synthetic import write_synthetic_celeba

    start = time.perf_counter()
    root = write_synthetic_celeba(args.root, n=args.n, seed=args.seed, layout=args.layout,
                                  crlf=args.crlf)
    print(f"wrote {args.n:,} synthetic CelebA images ({args.layout} layout) to {root} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _info(args: argparse.Namespace) -> int:
    from .attributes import REPORT_ATTRIBUTES
    from .data import load_celeba

    data = load_celeba(args.root)
    print(f"root:        {data.root} ({data.layout} layout{', synthetic' if data.synthetic else ''})")
    print(f"images:      {len(data):,}")
    counts = data.partition.value_counts()
    print("partitions:  " + ", ".join(f"{name} {counts.get(name, 0):,}"
                                       for name in ("train", "validation", "test")))
    shares = data.attributes[list(REPORT_ATTRIBUTES)].mean() * 100
    print("prevalence:  " + ", ".join(f"{name} {share:.1f} %" for name, share in shares.items()))
    print(f"fingerprint: {data.fingerprint}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from .download import download_celeba

    print(download_celeba(args.path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m celeba_lab``."""
    parser = argparse.ArgumentParser(prog="python -m celeba_lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write a synthetic CelebA")
    synth.add_argument("root", help="folder to create (must be empty or absent)")
    synth.add_argument("--n", type=int, default=2000, help="number of images (default 2000)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--layout", choices=("original", "kaggle", "torchvision"),
                       default="original", help="on-disk layout (default: original release)")
    synth.add_argument("--crlf", action="store_true", help="write CRLF line endings")
    synth.set_defaults(func=_synth)

    info = commands.add_parser("info", help="summarise a CelebA folder")
    info.add_argument("root", nargs="?", default=None,
                      help="CelebA folder (default: $CELEBA_ROOT, else the synthetic set)")
    info.set_defaults(func=_info)

    download = commands.add_parser("download", help="download real CelebA with kagglehub")
    download.add_argument("--path", default=None, help="where to keep it (default: kagglehub's cache)")
    download.set_defaults(func=_download)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    from .data import CelebAError

    try:
        return args.func(args)
    except (CelebAError, OSError, ValueError) as error:   # said in one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
