"""Command line: ``tfsnn train`` and ``tfsnn evaluate``.

    tfsnn train --config config/quickstart.yaml --out runs/quickstart [--set train.epochs=3]
    tfsnn evaluate --checkpoint runs/quickstart/checkpoint.pt --T 1 2 4 --configs 3-2-2-3-5-3-6-2 \
        --out runs/quickstart/eval.csv

Bad input exits with status 2 and a message naming what is wrong; nothing is written.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from tfsnn.config import ConfigError, load_config
from tfsnn.data import DataError
from tfsnn.io import CheckpointError, write_csv

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfsnn", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a TFSNN as a YAML config says (resumes if interrupted)")
    train.add_argument("--config", required=True, help="YAML experiment config")
    train.add_argument("--out", required=True, help="output folder: checkpoint.pt, metrics.csv")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    train.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if present)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = sub.add_parser("evaluate", help="test accuracy of a checkpoint at uniform T and configurations")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--T", type=int, nargs="*", default=None, help="uniform time steps (default: the config's)")
    ev.add_argument("--configs", nargs="*", default=None, help="per-stage configurations such as 3-2-2-3")
    ev.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a config field of the checkpoint, e.g. data.pack_dir=/data/packs")
    ev.add_argument("--out", required=True, help="CSV of tidy result rows")
    ev.add_argument("--device", default=None)
    return parser


def _section_overrides(items: list[str]) -> dict:
    overrides: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, field = key.partition(".")
        if not (sep and dot and field):
            raise ConfigError(f"--set {item!r} must look like section.key=value")
        overrides.setdefault(section, {})[field] = yaml.safe_load(value)
    return overrides


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            from tfsnn.experiment import train

            config = load_config(args.config, args.set)
            metrics = train(config, args.out, progress=not args.no_progress, device=args.device)
            final = metrics[(metrics.metric == "test_acc") & (metrics.epoch == metrics.epoch.max())]
            print(f"{config.method.name} {config.model.name} on {config.data.name} "
                  f"({metrics.data_source.iloc[0]}), epoch {int(final.epoch.max())}: test accuracy (%)")
            print(final[["T", "value"]].rename(columns={"value": "accuracy"}).to_string(index=False))
            print(f"checkpoint and metrics in {args.out}")
        else:
            from tfsnn.experiment import evaluate_checkpoint

            rows = evaluate_checkpoint(args.checkpoint, args.T, args.configs, _section_overrides(args.set), args.device)
            write_csv(rows, args.out)
            print(rows[["config", "accuracy", "loss", "bn_calibrated"]].to_string(index=False))
    except (ConfigError, DataError, CheckpointError, ValueError) as err:
        print(f"tfsnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
