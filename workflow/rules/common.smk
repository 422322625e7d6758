# Shared by every rules file: the validated config and scale, and the training runs the tables
# ask for. A run is named from its settings alone, so a model needed by several tables is
# trained once per scale.
import hashlib
import json
import shlex
from pathlib import Path

import yaml
from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")

SCALE_NAME = config["scale"]
SCALE = yaml.safe_load(Path(f"config/scales/{SCALE_NAME}.yaml").read_text())
validate(SCALE, "../schemas/scale.schema.yaml")

# the paper's values (a copy of ../shared/paper/reference_values.csv, see workflow/reference/)
REFERENCE = "workflow/reference/reference_values.csv"

# every {scale} wildcard is the configured scale: outputs of other scales are never remade here
wildcard_constraints:
    scale=SCALE_NAME,
    run=r"[A-Za-z0-9_.=-]+",
    Ts=r"\d+(-\d+)*",


# training config (as `tfsnn train` reads it) of every run a table asked for, by run name
RUNS = {}
# names of the tables the included rules files make (each appends its own)
TABLES = []


def dataset_used(dataset):
    """The dataset that stands in for ``dataset`` at this scale (itself if the scale has it)."""
    return SCALE["stand_ins"].get(dataset, dataset)


def stand_in_note(dataset):
    """What every output row says about ``dataset``: the stand-in's name, or "" if none."""
    used = dataset_used(dataset)
    return "" if used == dataset else used


def trained_T(options):
    """The largest time step a run trains at: what it is tested at after each epoch."""
    return options.get("T", options.get("t_max"))


def run(dataset, family, method, seed=0, **options):
    """Register the training run of ``method`` (with its ``options``) on ``dataset`` with the
    settings of experiment ``family`` at this scale; returns its name."""
    used = dataset_used(dataset)
    name = "-".join([used, family, method, *(f"{k}{v}" for k, v in sorted(options.items())), f"seed{seed}"])
    experiment = SCALE["experiments"][family]
    RUNS[name] = {
        "seed": seed,
        "scale": SCALE_NAME,
        "data": {"name": used, **SCALE["data"], **experiment.get("data", {})},
        "model": experiment["model"],
        "method": {"name": method, **options},
        "train": experiment["train"],
        "eval": {"T": [trained_T(options)]},
    }
    return name


def run_config(wildcards):
    return RUNS[wildcards.run]


def partial_dir(wildcards, output):
    """Where `tfsnn train` writes (and resumes from) a run: named by its config's hash, so a
    changed config starts afresh instead of resuming another config's checkpoint."""
    settings = json.dumps(RUNS[wildcards.run], sort_keys=True).encode()
    return Path(output.checkpoint).parent / f"partial-{hashlib.sha256(settings).hexdigest()[:16]}"


def evaluation_of(name, Ts):
    """The CSV of run ``name`` tested at the uniform time steps ``Ts``."""
    return f"results/{SCALE_NAME}/evals/{name}/T{'-'.join(map(str, Ts))}.csv"


def table_part(dataset, family, method, Ts, rows_T=None, **options):
    """A part of a table: the evaluation CSV of the run of ``method`` (with ``options``) on
    ``dataset`` tested at ``Ts``, the time steps of it that give rows (default: all of ``Ts``),
    the paper's dataset and the stand-in used for it at this scale ("" if none)."""
    name = run(dataset, family, method, **options)
    return {"csv": evaluation_of(name, Ts), "T": list(rows_T or Ts), "dataset": dataset,
            "stand_in": stand_in_note(dataset)}


def table_inputs(parts):
    """The evaluation CSVs of a table's parts (method label -> list of parts)."""
    return sorted({part["csv"] for label_parts in parts.values() for part in label_parts})


def env_prefix():
    """Shell assignments of the scale's environment variables."""
    return " ".join(f"{key}={shlex.quote(value)}" for key, value in SCALE["env"].items())


def table_targets():
    return [f"figures/{SCALE_NAME}/{table}.pdf" for table in TABLES]
