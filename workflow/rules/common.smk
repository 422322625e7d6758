# Shared by every rules file: the validated config and scale, and the training runs the tables
# ask for. A run is named from its settings alone, so a model needed by several tables is
# trained once per scale.
import hashlib
import json
import re
import shlex
from pathlib import Path

import yaml
from snakemake.utils import validate

from tfsnn.analysis import ANALYSES as REGISTERED_ANALYSES
from tfsnn.analysis import reads_test_set
from tfsnn.report import labels, tables
from tfsnn.report.claims import CLAIMS


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


# training config (as `tfsnn train` reads it) of every run a table asked for, by run name
RUNS = {}


def dataset_used(dataset):
    """The dataset that stands in for ``dataset`` at this scale (itself if the scale has it)."""
    return SCALE["stand_ins"].get(dataset, dataset)


def family_used(family):
    """The experiment family whose runs serve ``family`` at this scale: the scale's
    ``family_stand_ins`` entry, or ``family`` itself (every row names the model it ran)."""
    return SCALE.get("family_stand_ins", {}).get(family, family)


for _family, _used in SCALE.get("family_stand_ins", {}).items():
    if _used not in SCALE["experiments"]:
        raise ValueError(f"config/scales/{SCALE_NAME}.yaml: family_stand_ins gives {_family} the runs of "
                         f"{_used}, which its experiments section does not list")


def stand_in_note(dataset):
    """What every output row says about ``dataset``: the stand-in's name, or "" if none."""
    used = dataset_used(dataset)
    return "" if used == dataset else used


def trained_T(options):
    """The largest time step a run trains at: what it is tested at after each epoch."""
    return options.get("T", options.get("t_max"))


def family_T(family):
    """The time steps of the inputs of a sequence/audio family (its first stage's T, A.12)."""
    return SCALE["experiments"][family]["T"]


def _name_part(key, value):
    """``key`` and ``value`` in a run's name (a list as its items joined by ``_``, a dict as its
    fields, e.g. ``neuron.kindiaf``)."""
    if isinstance(value, dict):
        return "-".join(_name_part(f"{key}.{k}", v) for k, v in sorted(value.items()))
    return f"{key}{'_'.join(map(str, value)) if isinstance(value, list | tuple) else value}"


# runs of experiment families this scale does not list (their tables and figures: not run here)
NOT_RUN_RUNS = set()
# tables and figures of the paper not made at this scale: name -> why
NOT_RUN = {}


def runs_here(family):
    """Whether this scale runs experiment ``family`` (lists it, or its stand-in, under ``experiments``)."""
    return family_used(family) in SCALE["experiments"]


def _changed(fields, base):
    """The ``fields`` whose values differ from ``base``'s (a field equal to it changes nothing)."""
    missing = object()
    return {k: v for k, v in (fields or {}).items() if base.get(k, missing) != v}


def run(dataset, family, method, seed=0, model=None, train=None, **options):
    """Register the training run of ``method`` (with its ``options``) on ``dataset`` with the
    settings of experiment ``family`` at this scale (``model``, ``train``: fields that replace
    the family's, e.g. ``model={"granularity": 2}``, ``train={"epochs": 100}``; a field equal
    to the family's, or to tfsnn's default of a model field, changes nothing, so that run is the
    family's own); returns its name. A family the scale does not list gives a name that no
    table or figure at this scale reads (table(), figure()); a family with a stand-in
    (family_used()) gives the stand-in's run."""
    from tfsnn.config import ModelConfig

    used, family = dataset_used(dataset), family_used(family)
    if not runs_here(family):
        name = re.sub(r"[^A-Za-z0-9_.=-]", ".", "-".join([used, family, method, f"seed{seed}"]))
        NOT_RUN_RUNS.add(name)
        return name
    experiment = SCALE["experiments"][family]
    model_defaults = {k: f.default for k, f in ModelConfig.model_fields.items() if not f.is_required()}
    model = _changed(model, {**model_defaults, **experiment["model"]})
    train = _changed(train, experiment["train"])
    parts = [*(_name_part(k, v) for k, v in sorted(model.items())), *(f"{k}{v}" for k, v in sorted(options.items())),
             *(_name_part(k, v) for k, v in sorted(train.items()))]
    # a file name: a method named by module path (my_methods:Mine) becomes my_methods.Mine
    name = re.sub(r"[^A-Za-z0-9_.=-]", ".", "-".join([used, family, method, *parts, f"seed{seed}"]))
    experiment = {k: v for k, v in experiment.items() if k != "T"}
    settings = {
        "seed": seed,
        "scale": SCALE_NAME,
        "data": {"name": used, **SCALE["data"], **experiment.get("data", {})},
        "model": {**experiment["model"], **model},
        "method": {"name": method, **options},
        "train": {**experiment["train"], **train},
        "eval": {"T": [trained_T(options)]},
    }
    if RUNS.get(name, settings) != settings:  # e.g. my_methods:Mine and my_methods.Mine
        raise ValueError(f"two different runs would both be named {name}: methods {RUNS[name]['method']} and "
                         f"{settings['method']}; give one of the methods another name")
    RUNS[name] = settings
    return name


def run_config(wildcards):
    return RUNS[wildcards.run]


def check_runs():
    """Validate the training config of every registered run as `tfsnn train` will, when the
    workflow is parsed: a bad scale file fails at once, naming the run and the field."""
    from tfsnn.config import ConfigError, validate_config

    for name, settings in RUNS.items():
        try:
            validate_config(settings)
        except ConfigError as err:
            raise ValueError(f"config/scales/{SCALE_NAME}.yaml gives run {name} a bad config: {err}") from None


def committed_run(name):
    """workflow/reference/{scale}/runs/{name}/ if a finished run is committed there (and
    ``reuse_committed`` is on), else ""."""
    folder = Path(f"workflow/reference/{SCALE_NAME}/runs/{name}")
    return str(folder) if config.get("reuse_committed", True) and (folder / "checkpoint.pt").is_file() else ""


def snapshot_twin(name):
    """The registered run that trains exactly as run ``name`` and also keeps its states along
    training (``train.save_epochs``, which changes nothing in the training:
    tests/test_training.py), or "" if none; rule train copies it instead of training again."""

    def training(settings):
        return {**settings, "train": {k: v for k, v in settings["train"].items() if k != "save_epochs"}}

    if RUNS[name]["train"].get("save_epochs"):
        return ""
    mine = training(RUNS[name])
    twins = [other for other, settings in RUNS.items()
             if settings["train"].get("save_epochs") and training(settings) == mine]
    return min(twins, default="")


def snapshot_twin_outputs(wildcards):
    twin = snapshot_twin(wildcards.run)
    return [f"results/{wildcards.scale}/runs/{twin}/{kind}" for kind in ("checkpoint.pt", "metrics.csv", "environment.json")] if twin else []


def committed_checkpoint(name):
    """The committed checkpoint that rule train restores (or copies, via the snapshot twin) run
    ``name`` from, or "" if none."""
    folder = committed_run(name) or ((twin := snapshot_twin(name)) and committed_run(twin))
    return f"{folder}/checkpoint.pt" if folder else ""


def committed_result(wildcards, output):
    """The committed copy (workflow/reference/{scale}/...) of an evaluation or analysis CSV, if
    its run has a committed checkpoint, else "": rules evaluate and analyze restore it when the
    checkpoint they were given is byte-for-byte that one."""
    committed = Path(str(output[0]).replace("results/", "workflow/reference/", 1))
    return str(committed) if committed_checkpoint(wildcards.run) and committed.is_file() else ""


def committed_records(wildcards, output):
    """The committed per-item records (.npz) beside committed_result's CSV, if it has them, else "":
    an evaluation or analysis committed before records were kept is made again."""
    csv = committed_result(wildcards, output)
    records = Path(csv).with_suffix(".npz") if csv else None
    return str(records) if records is not None and records.is_file() else ""


def partial_dir(wildcards, output):
    """Where `tfsnn train` writes (and resumes from) a run: named by its config's hash, so a
    changed config starts afresh instead of resuming another config's checkpoint."""
    settings = json.dumps(RUNS[wildcards.run], sort_keys=True).encode()
    return Path(output.checkpoint).parent / f"partial-{hashlib.sha256(settings).hexdigest()[:16]}"


# what every evaluation a table or figure asked for tests, by "run/tag" (rule evaluate)
EVALUATIONS = {}


# data fields every evaluation and analysis replaces in its run's config (the scale's test_data,
# e.g. the whole test split where the runs trained on subsets): named in their files' names
TEST_DATA = SCALE.get("test_data", {})
TEST_DATA_EXCEPT = set(SCALE.get("test_data_except", []))
if TEST_DATA_EXCEPT - set(REGISTERED_ANALYSES):
    raise ValueError(f"scale {SCALE_NAME}: test_data_except names "
                     f"{sorted(TEST_DATA_EXCEPT - set(REGISTERED_ANALYSES))}, not analyses; "
                     f"choose from {sorted(REGISTERED_ANALYSES)}")


def test_data(name):
    """The fields of TEST_DATA that change run ``name``'s data (none where it already has them,
    e.g. a family that tests on its whole split anyway)."""
    data = RUNS[name]["data"] if name in RUNS else {}
    return {k: v for k, v in sorted(TEST_DATA.items()) if name in RUNS and data.get(k) != v}


def test_data_arguments(fields):
    """The tfsnn evaluate / analyze arguments that apply ``fields`` (test_data())."""
    return " ".join(f"--set {shlex.quote(f'data.{k}={json.dumps(v)}')}" for k, v in sorted(fields.items()))


def evaluation_of(name, Ts, random_configs=0, random_seed=0):
    """The CSV of run ``name`` tested at the uniform time steps ``Ts`` and at ``random_configs``
    per-stage configurations drawn with ``random_seed`` (BN calibrated at each of those), on the
    test data of test_data() (its tag says which)."""
    tag = f"T{'-'.join(map(str, Ts))}"
    if random_configs:
        tag += f"-random{random_configs}-seed{random_seed}"
    fields = test_data(name)
    tag += "".join(f"-{k}{'all' if v is None else v}" for k, v in fields.items())
    EVALUATIONS[f"{name}/{tag}"] = {"T": list(Ts), "random_configs": random_configs, "random_seed": random_seed,
                                    "test_data": fields}
    return f"results/{SCALE_NAME}/evals/{name}/{tag}.csv"


# options of every analysis a table or figure asked for, by "run/key" (rule analyze)
ANALYSES = {}


def analysis_of(name, analysis, **options):
    """The CSV of ``tfsnn analyze {analysis}`` on run ``name``; ``options`` are added to the
    scale's settings of that analysis (section ``analyses``). Its tag hashes them, and test_data()
    where the analysis reads the test set and the scale does not except it (test_data_except)."""
    options = {**SCALE["analyses"].get(analysis, {}), **options}
    fields = test_data(name) if reads_test_set(analysis) and analysis not in TEST_DATA_EXCEPT else {}
    hashed = {**options, "test_data": fields} if fields else options
    tag = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:8]
    key = f"{analysis}-{tag}"
    ANALYSES[f"{name}/{key}"] = {"analysis": analysis, "options": options, "test_data": fields}
    return f"results/{SCALE_NAME}/analyses/{name}/{key}.csv"


def evaluation_arguments(wildcards):
    """tfsnn evaluate arguments of an evaluation registered by evaluation_of()."""
    spec = EVALUATIONS[f"{wildcards.run}/{wildcards.tag}"]
    return (f"--T {' '.join(map(str, spec['T']))} --random-configs {spec['random_configs']} "
            f"--random-seed {spec['random_seed']} {test_data_arguments(spec['test_data'])}")


def analysis_options(wildcards):
    """--option arguments of an analysis job (values as JSON, which YAML reads back)."""
    spec = ANALYSES[f"{wildcards.run}/{wildcards.analysis}-{wildcards.tag}"]
    return " ".join([*(f"--option {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in sorted(spec["options"].items())),
                     test_data_arguments(spec["test_data"])])


def metrics_of(name):
    """The per-epoch metrics CSV of training run ``name``."""
    return f"results/{SCALE_NAME}/runs/{name}/metrics.csv"


def evaluation_part(method, dataset, family, training, Ts, rows_T=None, seed=0, timestep="T", model=None,
                    **options):
    """A table part (tfsnn.report.tables.part): the run of ``training`` (a method name, with
    ``options``; ``model`` as in run()) on ``dataset`` tested at ``Ts``, giving the rows of
    ``rows_T`` (default all) under the paper's label ``method``."""
    name = run(dataset, family, training, seed=seed, model=model, **options)
    return tables.part(evaluation_of(name, Ts), method, dataset, stand_in_note(dataset),
                       select={"T": list(rows_T or Ts)}, timestep=timestep)


def seeds(source=None):
    """The seeds of the experiments behind a headline claim at this scale: the scale's
    ``table_seeds`` count for table or figure ``source`` (seeds 0, 1, ...: as many as the power
    table asks of its claims), else ``seeds``."""
    count = SCALE.get("table_seeds", {}).get(source)
    return list(range(count)) if count else SCALE["seeds"]


def analysis_seeds():
    """The seeds of the other experiments behind a claim (Tables 5-7, 12 and 13, sections 4.2 and
    5.3, Figs. 5, 6, 7A-C, 9): the scale's ``analysis_seeds`` if it names them, else seeds()."""
    return SCALE.get("analysis_seeds", SCALE["seeds"])


# tables of the paper: name -> {"title", "parts"} (rules table_csv, table_pdf in report.smk)
TABLES = {}
# figures of the paper: name -> {"inputs": {key: csv}, "params": {...}} (rule figure)
FIGURES = {}


def _run_of(csv):
    """The training run a result CSV belongs to (results/{scale}/{runs,evals,analyses}/{run}/...)."""
    return Path(csv).parts[3]


def not_run(name, why):
    """Table or figure ``name`` is not made at this scale (the scorecard says so for its claims)."""
    NOT_RUN[name] = why


def skipped(name):
    """Whether the scale's ``skip`` section names table or figure ``name`` (then it is not run)."""
    if name in SCALE.get("skip", {}):
        not_run(name, f"skipped by config/scales/{SCALE_NAME}.yaml: {SCALE['skip'][name]}")
        return True
    return False


def table(name, title, parts):
    """Register table ``name``: its parts of runs this scale does not train are left out (a table
    left with none, or one the scale skips, is not run here)."""
    if skipped(name):
        return
    kept = [part for part in parts if _run_of(part["csv"]) not in NOT_RUN_RUNS]
    if not kept:
        return not_run(name, f"config/scales/{SCALE_NAME}.yaml lists none of its experiment families")
    TABLES[name] = {"title": title, "parts": kept}


def figure(name, inputs, **params):
    """Register figure ``name`` (``inputs``: label -> CSV or CSVs); one that reads a run this
    scale does not train is not run here."""
    if skipped(name):
        return
    paths = [path for value in inputs.values() for path in ([value] if isinstance(value, str) else value)]
    if any(_run_of(path) in NOT_RUN_RUNS for path in paths):
        return not_run(name, f"config/scales/{SCALE_NAME}.yaml does not list an experiment family it needs")
    FIGURES[name] = {"inputs": inputs, "params": params}


def part_inputs(parts):
    return sorted({p["csv"] for p in parts})


def training_launcher(gpus):
    """`tfsnn` for one process; torchrun with one process per GPU (DDP) for several."""
    return "tfsnn" if gpus <= 1 else f"torchrun --standalone --nproc_per_node {gpus} -m tfsnn.cli"


def env_prefix():
    """Shell assignments of the scale's environment variables."""
    return " ".join(f"{key}={shlex.quote(value)}" for key, value in SCALE["env"].items())


def report_targets():
    """Every table and figure of the paper at this scale."""
    return [f"figures/{SCALE_NAME}/{name}.pdf" for name in [*TABLES, *FIGURES]]


# what the claims scorecard reads (scorecard.smk; check_claims() runs once every rules file registered)
def source_labels(source):
    """The labels a table's parts or a figure's curves are registered with (tfsnn.report.labels)."""
    if source in TABLES:
        return {part["method"] for part in TABLES[source]["parts"]}
    return set(FIGURES[source]["inputs"])


def source_csvs(source):
    if source in TABLES:
        return [part["csv"] for part in TABLES[source]["parts"]]
    return [path for paths in FIGURES[source]["inputs"].values()
            for path in ([paths] if isinstance(paths, str) else paths)]


def runs_behind(source):
    """The training runs whose evaluations, analyses or metrics a table or figure reads
    (results/{scale}/{evals,analyses,runs}/{run}/...)."""
    return sorted({_run_of(csv) for csv in source_csvs(source)})


def check_claims():
    """Every label a claim reads is one its source is made with: a label renamed in one place
    fails here, when the workflow is parsed, instead of emptying the claim's row."""
    for claim in CLAIMS:
        for source, label in claim.reads:
            if source in NOT_RUN:
                continue
            if source not in TABLES and source not in FIGURES:
                raise ValueError(f"claim {claim.id} reads {source}, which no rules file registers")
            if label not in source_labels(source):
                raise ValueError(f"claim {claim.id} reads label {label!r} of {source}, which is made with "
                                 f"{sorted(source_labels(source))} (tfsnn/report/labels.py)")
