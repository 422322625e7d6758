"""Command line: ``tfsnn train``, ``tfsnn evaluate``, ``tfsnn analyze``, ``tfsnn compare``,
``tfsnn export-nir``, ``tfsnn diff-results`` and ``tfsnn data pack``.

    tfsnn train --config config/quickstart.yaml --out runs/quickstart [--set train.epochs=3]
    torchrun --nproc_per_node 4 -m tfsnn.cli train --config ... --out ...   (DDP, docs/cluster.md)
    tfsnn evaluate --checkpoint runs/quickstart/checkpoint.pt --T 1 2 4 --configs 3-2-2-3-5-3-6-2 \
        --out runs/quickstart/eval.csv
    tfsnn analyze noise --checkpoint runs/quickstart/checkpoint.pt --option target=weights \
        --option sigma2=[0,0.001,0.01] --out runs/quickstart/noise.csv
    tfsnn compare results/a/compare-rows.csv results/b/compare-rows.csv --out compare.pdf
    tfsnn export-nir --checkpoint runs/nmnist/checkpoint.pt --out runs/nmnist/model.nir
    tfsnn diff-results results/smoke workflow/reference/smoke
    tfsnn data pack --dataset cifar100 --train-size 5000 --test-size 1000 --out packs/cifar100.npz

Bad input exits with status 2 and a message naming what is wrong; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tfsnn.config import ConfigError, load_config, parse_assignment
from tfsnn.data import DataError
from tfsnn.io import CheckpointError, write_csv

__all__ = ["main"]


TRUST_HELP = "import the module:Class method a checkpoint's config names (runs its code: only for checkpoints you trust)"


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (``tfsnn train: error: ...``) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(minimum: int):
    """An argparse type: an int >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tfsnn", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a TFSNN as a YAML config says (resumes if interrupted)")
    train.add_argument("--config", required=True, help="YAML experiment config")
    train.add_argument("--out", required=True, help="output folder: checkpoint.pt, metrics.csv")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    train.add_argument("--device", default=None,
                       help="cpu, cuda, cuda:1 ... (default: cuda if present; under torchrun: cuda:LOCAL_RANK)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = sub.add_parser("evaluate", help="test accuracy of a checkpoint at uniform T and configurations")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--T", type=_count(1), nargs="+", default=None, help="uniform time steps (default: the config's)")
    ev.add_argument("--configs", nargs="+", default=None, help="per-stage configurations such as 3-2-2-3")
    ev.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a config field of the checkpoint, e.g. data.pack_dir=/data/packs")
    ev.add_argument("--random-configs", type=_count(0), default=0, metavar="N",
                    help="also N per-stage configurations drawn uniformly from [1, T_max]^stages")
    ev.add_argument("--random-seed", type=int, default=0, help="seed of --random-configs")
    ev.add_argument("--recalibrate", choices=["nonuniform", "all"], default="nonuniform",
                    help="calibrate BN at non-uniform configurations only (T_max statistics serve every "
                         "uniform T) or at every one (Table 12)")
    ev.add_argument("--out", required=True, help="CSV of tidy result rows")
    ev.add_argument("--records", default=None, metavar="NPZ",
                    help="also what each test item got (its position in the data's test split, its class, the "
                         "class predicted at each configuration), as an .npz file with the rows' provenance")
    ev.add_argument("--device", default=None)
    ev.add_argument("--trust-method", action="store_true", help=TRUST_HELP)

    an = sub.add_parser("analyze", help="run an analysis of the paper on a checkpoint (see tfsnn.analysis)")
    an.add_argument("analysis", help="analysis name, e.g. noise, estimation, landscape")
    an.add_argument("--checkpoint", required=True)
    an.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="an option of the analysis (a YAML value), e.g. sigma2=[0,0.01]")
    an.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a config field of the checkpoint, e.g. data.pack_dir=/data/packs")
    an.add_argument("--out", required=True, help="CSV of tidy result rows")
    an.add_argument("--records", default=None, metavar="NPZ",
                    help="also what each test item got in the rows that measure an accuracy, as an .npz file")
    an.add_argument("--device", default=None)
    an.add_argument("--trust-method", action="store_true", help=TRUST_HELP)

    cmp = sub.add_parser("compare", help="compare methods from evaluation CSVs of any machines (mean, std over seeds)")
    cmp.add_argument("csv", nargs="+", help="evaluation CSVs (tfsnn evaluate) or comparison rows of the DAG; "
                     "per-item records beside them (x.npz beside x.csv) are used where both methods have them")
    cmp.add_argument("--baseline", default=None, help="label the others are compared with (default: MTT)")
    cmp.add_argument("--reference", default=None, help="reference CSV of the paper's values, e.g. "
                     "workflow/reference/reference_values.csv")
    cmp.add_argument("--dataset", default=None, help="the paper's dataset (default: the rows' dataset)")
    cmp.add_argument("--out", required=True, help="PDF of the comparison")
    cmp.add_argument("--csv-out", default=None, help="CSV of the comparison")

    nir_ = sub.add_parser("export-nir", help="export a checkpoint to NIR (neuromorphic chips' toolchains load it)")
    nir_.add_argument("--checkpoint", required=True)
    nir_.add_argument("--out", required=True, help="the .nir (HDF5) file to write")
    nir_.add_argument("--dt", type=float, default=1e-3, help="seconds per time step of the continuous-time neurons")
    nir_.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help="override a config field of the checkpoint, e.g. data.pack_dir=/data/packs")
    nir_.add_argument("--trust-method", action="store_true", help=TRUST_HELP)

    diff = sub.add_parser("diff-results", help="what moved between fresh result CSVs and reference ones")
    diff.add_argument("fresh", help="folder of fresh CSVs, e.g. results/smoke (or one fresh CSV)")
    diff.add_argument("reference", help="folder of reference CSVs, e.g. workflow/reference/smoke (or one CSV)")
    diff.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance of a value")
    diff.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance of a value")
    diff.add_argument("--update", action="store_true",
                      help="make the fresh CSVs the new references (and record this machine's stack beside them)")

    data = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True)
    pack = data.add_parser("pack", help="write an offline pack (a seeded class-balanced subset) of any dataset")
    pack.add_argument("--dataset", required=True, help="dataset name, e.g. cifar100, nmnist, fsdd-spikes")
    pack.add_argument("--out", required=True, help="the .npz pack to write (a .sha256 file goes beside it)")
    pack.add_argument("--source", choices=["download", "pack"], default="download")
    pack.add_argument("--root", default=None, help="download folder (default: TFSNN_DATA or ./data)")
    pack.add_argument("--no-download", action="store_true", help="use only files already under --root")
    pack.add_argument("--pack-dir", default=None, help="folder of the pack to read (--source pack)")
    pack.add_argument("--pack-file", default=None, help="pack to read (--source pack; default: the shared one)")
    pack.add_argument("--train-size", type=int, default=None, help="training items (default: all)")
    pack.add_argument("--test-size", type=int, default=None, help="test items (default: all)")
    pack.add_argument("--seed", type=int, default=0, help="seed of the subsets and of a 9:1 split")
    return parser


def _section_overrides(items: list[str]) -> dict:
    overrides: dict = {}
    for item in items:
        key, value = parse_assignment(item, "--set")
        section, dot, field = key.partition(".")
        if not (dot and field):
            raise ConfigError(f"--set {item!r} must look like section.key=value")
        overrides.setdefault(section, {})[field] = value
    return overrides


def _options(items: list[str]) -> dict:
    return dict(parse_assignment(item, "--option") for item in items)


def _check_output(path: str, folder: bool) -> None:
    """Refuse an ``--out`` that cannot be written, before any work: a folder where a file goes,
    a file where a folder goes, or a path under a file."""
    out = Path(path)
    if folder and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {path} is a file; training writes a folder (checkpoint.pt, metrics.csv)")
    if not folder and out.is_dir():
        raise ConfigError(f"--out {path} is a folder; give the path of the file to write")
    above = next((p for p in out.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ConfigError(f"--out {path}: {above} is a file, not a folder")


def _diff_results(args) -> int:
    """``tfsnn diff-results``: 1 when the results changed. Values (and row keys holding results)
    that moved between rows made on different stacks are expected (exit 0, listed with the parts
    of the stacks that differ); on one stack, and for any change of structure, they are not."""
    from tfsnn.report.regression import diff_results, update_references

    if args.update:
        names = update_references(args.fresh, args.reference)
        print(f"{len(names)} CSVs of {args.fresh} are now the references in {args.reference}")
        return 0
    changes = diff_results(args.fresh, args.reference, args.atol, args.rtol)
    if not len(changes):
        print(f"no change: every CSV of {args.reference} is matched by {args.fresh}")
        return 0
    print(changes.drop(columns="stack").to_string(index=False))
    print(f"{len(changes)} change(s) beyond atol={args.atol}, rtol={args.rtol}")
    across = changes["change"].str.endswith(" moved") & changes["stack"].map(lambda s: isinstance(s, str) and s != "")
    for parts, count in changes[across].groupby("stack").size().items():
        print(f"{count} of them moved between rows made on different stacks ({parts}), where bitwise "
              "equality is not expected: not counted as changes")
    return int(not across.all())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        out = getattr(args, "out", None)
        if out is not None:
            _check_output(out, folder=args.command == "train")
        if args.command == "train":
            from tfsnn.experiment import train

            config = load_config(args.config, args.set)
            metrics = train(config, args.out, progress=not args.no_progress, device=args.device)
            final = metrics[(metrics.metric == "test_acc") & (metrics.epoch == metrics.epoch.max())]
            if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 reports
                print(f"{config.method.name} {config.model.name} on {config.data.name} "
                      f"({metrics.data_source.iloc[0]}), epoch {int(final.epoch.max())}: test accuracy (%)")
                print(final[["T", "value"]].rename(columns={"value": "accuracy"}).to_string(index=False))
                print(f"checkpoint and metrics in {args.out}")
        elif args.command == "data":
            from tfsnn.data import make_pack

            for size in ("train_size", "test_size"):
                if getattr(args, size) is not None and getattr(args, size) < 1:
                    raise DataError(f"--{size.replace('_', '-')} must be >= 1")
            written = make_pack(
                args.dataset, args.out, args.source, root=args.root, pack_dir=args.pack_dir,
                pack_file=args.pack_file, download=not args.no_download, train_size=args.train_size,
                test_size=args.test_size, seed=args.seed,
            )
            print(f"{written['path']}: {args.dataset}, {written['train_size']} train and {written['test_size']} "
                  f"test items from {written['made_from']}, sha256 {written['sha256']}")
        elif args.command == "compare":
            from tfsnn.report.compare import read_item_records, read_results, render_comparison

            frame = render_comparison(read_results(args.csv), args.out, args.csv_out, args.baseline,
                                      args.reference, args.dataset, records=read_item_records(args.csv))
            print(frame[["label", "config", "mean", "std", "seeds", "difference", "test", "verdict"]]
                  .to_string(index=False))
        elif args.command == "export-nir":
            import nir

            from tfsnn.analysis.nir_export import export_trained_nir
            from tfsnn.experiment import load_trained
            from tfsnn.io import atomic_path

            trained = load_trained(args.checkpoint, _section_overrides(args.set), "cpu", args.trust_method)
            graph = export_trained_nir(trained, None, args.dt)
            with atomic_path(args.out) as tmp:
                nir.write(tmp, graph)
            print(f"{args.out}: {len(graph.nodes)} NIR nodes, {len(graph.edges)} edges")
        elif args.command == "diff-results":
            return _diff_results(args)
        elif args.command == "analyze":
            from tfsnn.analysis import analysis_options, run_analysis
            from tfsnn.experiment import load_trained

            options = analysis_options(args.analysis, _options(args.option))
            trained = load_trained(args.checkpoint, _section_overrides(args.set), args.device, args.trust_method)
            rows = run_analysis(args.analysis, trained, options, args.records)
            write_csv(rows, args.out)
            print(f"{args.analysis}: {len(rows)} rows in {args.out}")
        else:
            from tfsnn.experiment import evaluate_checkpoint

            rows = evaluate_checkpoint(args.checkpoint, args.T, args.configs, _section_overrides(args.set),
                                       args.device, args.recalibrate, args.random_configs, args.random_seed,
                                       args.trust_method, args.records)
            write_csv(rows, args.out)
            print(rows[["config", "accuracy", "loss", "bn_calibrated"]].to_string(index=False))
    except (ConfigError, DataError, CheckpointError, ValueError, OSError) as err:  # OSError: a path it names
        print(f"tfsnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
