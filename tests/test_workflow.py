"""The Snakemake DAG (Snakefile, workflow/): it parses at every scale, plans every table and
figure at paper scale with each model trained once, and its schemas and checks reject bad
config. Dry runs only; nothing is trained."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def snakemake(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--nolock", "--cores", "1", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_paper_scale_table1_dry_run():
    done = snakemake("-n", "--forceall", "figures/paper/table1.pdf", "--config", "scale=paper")
    assert done.returncode == 0, done.stderr
    # per seed (3 at paper scale) SDT T=2..6 (T=6 shared by SDT and SDT*) and NMT: six models,
    # each trained once
    assert re.search(r"^train\s+18$", done.stdout, re.MULTILINE), done.stdout
    assert "results/paper/runs/cifar100-cifar-resnet19-sdt-T6-seed0/checkpoint.pt" in done.stdout


@pytest.mark.parametrize("scale, family", [("small", "cifar-resnet18"), ("smoke", "cifar-resnet19")])
def test_small_scales_name_their_stand_in(scale, family):
    # CIFAR-10 stands in for CIFAR-100; at small scale the ResNet-18 family for the ResNet-19 one
    done = snakemake("-n", "--forceall", f"figures/{scale}/table1.pdf", "--config", f"scale={scale}")
    assert done.returncode == 0, done.stderr
    assert f"results/{scale}/runs/cifar10-{family}-sdt-T6-seed0/checkpoint.pt" in done.stdout


def test_the_small_resnet19_tables_share_the_analyses_resnet18_models():
    # Table 4's MTT models are Table 6's (and, on Fig. 7B's 3 seeds, its g=1 ones) and Table 12
    # analyses them: no ResNet-19 is trained
    def trainings(*targets):
        done = snakemake("-n", "--forceall", *targets, "--config", "scale=small")
        assert done.returncode == 0, done.stderr
        return set(re.findall(r"output: results/small/runs/(\S+)/checkpoint.pt", done.stdout))

    table4 = trainings("figures/small/table4.pdf", "figures/small/table12.pdf")
    assert {f"cifar10-cifar-resnet18-mtt-samples3-t_max6-t_min1-seed{s}" for s in (0, 1, 2)} <= table4
    assert table4 <= trainings("figures/small/table6.pdf") | trainings("figures/small/table3.pdf")
    fig7b = trainings("figures/small/fig7B.pdf")
    assert {f"cifar10-cifar-resnet18-mtt-samples3-t_max6-t_min1-seed{s}" for s in (0, 1, 2)} <= fig7b
    assert not [run for run in trainings("all") if "resnet19" in run]


def test_a_run_that_another_repeats_with_snapshots_is_copied_from_it():
    # small Table 1's SDT T=6 and NMT runs train exactly as section 4.2's runs that also keep
    # snapshots (train.save_epochs): rule train copies those instead of training twice
    done = snakemake("-n", "-p", "--forceall", "figures/small/table1.pdf", "--config", "scale=small")
    assert done.returncode == 0, done.stderr
    for plain in ("sdt-T6", "nmt-samples3-t_max6-t_min1"):
        for seed in (0, 1, 2):
            twin = f"results/small/runs/cifar10-cifar-resnet18-{plain}-save_epochs0_1_2_3-seed{seed}"
            assert (f"input: results/small/configs/cifar10-cifar-resnet18-{plain}-seed{seed}.yaml, "
                    f"{twin}/checkpoint.pt") in done.stdout
            assert f"copied from {twin} " in done.stdout
    # a run with no such twin trains; at smoke scale no run has one
    assert "elif [ -n '' ]" in done.stdout
    smoke = snakemake("-n", "-p", "--forceall", "all", "--config", "scale=smoke")
    assert smoke.returncode == 0, smoke.stderr
    assert "copied from results/" not in smoke.stdout


def test_a_family_stand_in_that_the_scale_does_not_list_is_refused(tmp_path):
    for item in ("Snakefile", "workflow", "config"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / item)
    scale = tmp_path / "config" / "scales" / "small.yaml"
    scale.write_text(scale.read_text().replace("cifar-resnet19: cifar-resnet18", "cifar-resnet19: cifar-resnet99"))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", "--config", "scale=small"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "family_stand_ins gives cifar-resnet19 the runs of cifar-resnet99" in done.stdout + done.stderr


def test_schema_rejects_an_unknown_scale():
    done = snakemake("-n", "--forceall", "--config", "scale=huge")
    assert done.returncode != 0
    assert "huge" in done.stdout + done.stderr


@pytest.mark.parametrize("scale, trainings", [("paper", 5 * 3), ("smoke", 3 * 2)])
def test_table4_trains_each_model_once(scale, trainings):
    # one MTT model per dataset and seed (3 seeds at paper scale, 2 at smoke); at smoke scale
    # CIFAR-10 stands in for CIFAR-100 (one ResNet-19 serves both) and N-MNIST for both DVS sets
    # (one ResNet-18 serves both)
    done = snakemake("-n", "--forceall", f"figures/{scale}/table4.pdf", "--config", f"scale={scale}")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"^train\s+{trainings}$", done.stdout, re.MULTILINE), done.stdout


def test_all_at_paper_scale_plans_every_table_and_figure_once():
    done = snakemake("-n", "--forceall", "all", "--config", "scale=paper")
    assert done.returncode == 0, done.stderr
    for table in [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16]:
        assert f"figures/paper/table{table}.pdf" in done.stdout
    for name in ["fig5", "fig6", "fig7A", "fig7B", "fig7C", "fig8", "fig9", "table11", "sec4.2", "sec5.3", "appA.9",
                 "scorecard.html", "compare.pdf", "step_time.pdf"]:
        assert f"figures/paper/{name}" in done.stdout, name
    trainings = re.findall(r"output: (results/paper/runs/\S+/checkpoint.pt)", done.stdout)
    assert trainings and len(trainings) == len(set(trainings))  # each model trained once


@pytest.mark.parametrize("old, new, said", [
    ("optimizer: sgd", "optimizer: sgdd", ["train.optimizer", "smoke.yaml"]),
    ("seeds: [0, 1]", "seeds: [0, 1]\ntest_data_except: [noize]", ["test_data_except names ['noize']", "'noise'"]),
])
def test_a_bad_scale_fails_at_parse_naming_the_run_and_field(tmp_path, old, new, said):
    for item in ("Snakefile", "workflow", "config"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / item)
    scale = tmp_path / "config" / "scales" / "smoke.yaml"
    scale.write_text(scale.read_text().replace(old, new, 1))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", "--config", "scale=smoke"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert all(words in done.stdout + done.stderr for words in said), done.stderr


def test_the_users_command_plans_the_paper_scale():
    # exactly as the README leads with it (plus -n): figures/table4.pdf is the paper scale's
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "8", "figures/table4.pdf"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^configured_scale\s+1$", done.stdout, re.MULTILINE), done.stdout
    assert "input: figures/paper/table4.pdf" in done.stdout and "output: figures/table4.pdf" in done.stdout
    assert re.search(r"^train\s+15$", done.stdout, re.MULTILINE), done.stdout  # Table 4's 5 MTT models x 3 seeds
    assert "results/paper/runs/" in done.stdout and "results/smoke/" not in done.stdout


@pytest.mark.parametrize("target, scale, planned", [
    ("figures/fig7B.pdf", "smoke", "figures/smoke/fig7B.pdf"),
    ("figures/fig5.png", "small", "figures/small/fig5.png"),
    ("figures/sec4.2.pdf", "paper", "figures/paper/sec4.2.pdf"),
    ("scorecard", "smoke", "figures/smoke/scorecard.html"),
    ("compare", "smoke", "figures/smoke/compare.pdf"),
    ("figures/flexibility.png", "small", "figures/small/flexibility.png"),
])
def test_unscaled_targets_resolve_to_the_configured_scale(target, scale, planned):
    done = snakemake("-n", "--forceall", target, "--config", f"scale={scale}")
    assert done.returncode == 0, done.stderr
    assert f"input: {planned}" in done.stdout, done.stdout
    assert f"results/{scale}/" in done.stdout
    assert not {s for s in ("paper", "small", "smoke") if s != scale and f"results/{s}/" in done.stdout}


def test_every_table_and_figure_has_an_unscaled_target():
    done = snakemake("-n", "--forceall", *[f"figures/table{n}.pdf" for n in (*range(1, 10), *range(11, 17))],
                     *[f"figures/{f}.pdf" for f in ("fig5", "fig6", "fig7A", "fig7B", "fig7C", "fig8", "fig9",
                                                    "sec4.2", "sec5.3", "appA.9")],
                     "figures/scorecard.html", "figures/compare.pdf", "--config", "scale=smoke")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^configured_scale\s+27$", done.stdout, re.MULTILINE), done.stdout


def test_two_spellings_of_one_method_name_are_refused(tmp_path):
    # my_methods:Mine and my_methods.Mine would both be the run my_methods.Mine: refused, not overwritten
    (tmp_path / "two.yaml").write_text(
        "compare:\n  methods:\n"
        "    - {label: A, name: 'my_methods:Mine', t_max: 6}\n"
        "    - {label: B, name: my_methods.Mine, t_max: 6}\n")
    done = snakemake("-n", "--forceall", "figures/smoke/compare.pdf", "--configfile", str(tmp_path / "two.yaml"),
                     "--config", "scale=smoke")
    assert done.returncode != 0
    assert "two different runs would both be named" in done.stdout + done.stderr


@pytest.mark.parametrize("scale", ["small", "paper"])
def test_every_experiment_behind_a_claim_trains_three_seeds(scale):
    # the scorecard's verdicts rest on independently trained seeds: every model behind a claim is
    # trained with each of the scale's seeds (Tables 5-7, 13, sections 4.2, 5.3, Figs. 5-7, 9 too)
    from tfsnn.report.claims import CLAIMS

    sources = sorted({source for claim in CLAIMS for source in claim.sources})
    # the small scale makes what its budget allows, every run of it behind a claim
    targets = ["all"] if scale == "small" else [f"figures/{scale}/{source}.pdf" for source in sources]
    done = snakemake("-n", "--forceall", *targets, "--config", f"scale={scale}")
    assert done.returncode == 0, done.stderr
    seeds = {}
    for stem, seed in re.findall(rf"output: results/{scale}/runs/(\S+)-seed(\d+)/checkpoint.pt", done.stdout):
        seeds.setdefault(stem, set()).add(int(seed))
    assert seeds and {stem: s for stem, s in seeds.items() if len(s) < 3} == {}


def test_a_label_renamed_in_one_rules_file_fails_at_parse_naming_the_claim(tmp_path):
    # the claims and the rules files read their labels from tfsnn/report/labels.py; a label typed
    # into one rules file instead no longer matches what a claim reads, and the workflow says so
    for item in ("Snakefile", "workflow", "config"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / item)
    rules = tmp_path / "workflow" / "rules" / "table1.smk"
    assert "labels.SDT_STAR" in rules.read_text()
    rules.write_text(rules.read_text().replace("labels.SDT_STAR", '"SDT-star"'))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", "--config", "scale=smoke"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "claim one-model-matches-sdt reads label 'SDT*' of table1" in done.stdout + done.stderr


def test_imagenet_trains_with_its_augmentation_at_paper_scale():
    # Tables 2 and 4: "the standard data processing flow" (RandomResizedCrop(224) and a flip); it
    # trained on un-augmented images before
    import yaml

    paper = yaml.safe_load((ROOT / "config" / "scales" / "paper.yaml").read_text())
    assert paper["experiments"]["imagenet-resnet34"]["data"]["augment"] is True
    from tfsnn.data.images import image_transform

    steps = repr(image_transform("imagenet", (0.5,) * 3, (0.25,) * 3, augment=True))
    assert "RandomResizedCrop" in steps and "RandomHorizontalFlip" in steps


def test_measurements_train_what_the_paper_measures():
    done = snakemake("-n", "--forceall", "figures/smoke/table5.pdf", "figures/smoke/table11.pdf",
                     "figures/smoke/sec4.2.pdf", "--config", "scale=smoke")
    assert done.returncode == 0, done.stderr
    runs = set(re.findall(r"output: results/smoke/runs/(\S+)/checkpoint.pt", done.stdout))
    # Table 5: the SEENN-I baseline is trained by TET, as the row the paper compares with
    assert "cifar10-cifar-resnet19-tet-T6-seed0" in runs and "cifar10-cifar-resnet19-sdt-T6-seed0" not in runs
    # Table 11 at smoke: budget e x s = 2, s=1 for 2 epochs and s=2 for the family's 1, each its own run
    assert {"cifar10-cifar-resnet18-mtt-samples1-t_max6-t_min1-epochs2-seed0",
            "cifar10-cifar-resnet18-mtt-samples2-t_max6-t_min1-seed0"} <= runs
    # section 4.2: NMT and SDT runs that keep their states along training, measured by gradient_cosine
    assert {"cifar10-cifar-resnet18-nmt-samples3-t_max6-t_min1-save_epochs0_1-seed0",
            "cifar10-cifar-resnet18-sdt-T6-save_epochs0_1-seed0"} <= runs
    assert re.search(r"analyses/cifar10-cifar-resnet18-nmt-\S+/gradient_cosine-", done.stdout)


def test_table11_trains_every_cell_of_the_papers_grid_with_its_own_epochs():
    done = snakemake("-n", "--forceall", "figures/paper/table11.pdf", "--config", "scale=paper")
    assert done.returncode == 0, done.stderr
    runs = set(re.findall(r"output: results/paper/runs/(\S+)/checkpoint.pt", done.stdout))
    assert len(runs) == 16  # s = 1..4 at budgets e x s = 300, 600, 900, 1200
    for s in (1, 2, 3, 4):
        for budget in (300, 600, 900, 1200):
            epochs = budget // s
            suffix = "" if epochs == 300 else f"-epochs{epochs}"  # 300: the family's, r18_mtt's for s=3
            assert f"cifar100-cifar-resnet18-mtt-samples{s}-t_max6-t_min1{suffix}-seed0" in runs, (s, budget)


def test_the_small_scale_makes_the_claims_experiments_and_names_what_it_leaves_out():
    done = snakemake("-n", "--forceall", "all", "--config", "scale=small")
    assert done.returncode == 0, done.stderr
    for name in ("table1", "table4", "table6", "table12", "table13", "fig5", "fig6", "fig7B", "fig7C", "flexibility",
                 "table7", "table15", "scorecard.html", "compare"):
        assert f"figures/small/{name}" in done.stdout, name
    for name in ("table5", "table8", "table9", "table11", "table16"):
        assert f"figures/small/{name}." not in done.stdout, name
    # what it leaves out is no target there, so the user's command says so instead of planning it
    missing = snakemake("-n", "figures/small/table8.pdf", "--config", "scale=small")
    assert missing.returncode != 0


def test_the_small_comparison_trains_nothing_of_its_own():
    # its SDT, NMT and MTT are the runs of Tables 1 and 4: the README's example adds one method
    def trainings(*targets):
        done = snakemake("-n", "--forceall", *targets, "--config", "scale=small")
        assert done.returncode == 0, done.stderr
        return set(re.findall(r"results/small/runs/([^/\s]+)/checkpoint.pt", done.stdout))

    assert trainings("figures/small/compare.pdf") <= trainings("figures/small/table1.pdf", "figures/small/table4.pdf")


def test_granularity_one_is_the_mtt_run_itself():
    # Fig. 7B's g=1 is the family's MTT model (granularity 1 is tfsnn's default): trained once
    done = snakemake("-n", "--forceall", "figures/smoke/fig7B.pdf", "--config", "scale=smoke")
    assert done.returncode == 0, done.stderr
    runs = set(re.findall(r"output: results/smoke/runs/(\S+)/checkpoint.pt", done.stdout))
    assert "cifar10-cifar-resnet18-mtt-samples3-t_max6-t_min1-seed0" in runs
    assert not [run for run in runs if "granularity1" in run]
    assert {f"cifar10-cifar-resnet18-mtt-granularity{g}-samples3-t_max6-t_min1-seed0" for g in (2, 4, 8)} <= runs


def _job_stats(dry_run: str) -> list[str]:
    """The rows of a dry run's "Job stats" table: one per rule, then the total."""
    rows = dry_run.split("Job stats:", 1)[1].splitlines()[3:]
    return rows[:next((i for i, row in enumerate(rows) if not row.strip()), len(rows))]


def test_a_committed_run_and_its_evaluations_are_copied_instead_of_made_again(tmp_path):
    for item in ("Snakefile", "workflow", "config"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, tmp_path / item, ignore=shutil.ignore_patterns("runs", "evals", "analyses"))
        else:
            shutil.copy(source, tmp_path / item)

    def workflow(*args):
        return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args, "--config", "scale=smoke"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    run = "cifar10-cifar-resnet19-sdt-T6-seed0"
    done = workflow(f"results/smoke/configs/{run}.yaml")
    assert done.returncode == 0, done.stderr
    committed = tmp_path / "workflow" / "reference" / "smoke" / "runs" / run
    committed.mkdir(parents=True)
    (committed / "config.yaml").write_bytes((tmp_path / f"results/smoke/configs/{run}.yaml").read_bytes())
    (committed / "checkpoint.pt").write_bytes(b"the committed checkpoint")
    (committed / "metrics.csv").write_text("epoch,metric,value\n1,test_acc,50.0\n")
    (committed / "environment.json").write_text('{"cpu": "the committed run\'s"}\n')
    done = workflow(f"results/smoke/runs/{run}/checkpoint.pt")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"results/smoke/runs/{run}/checkpoint.pt").read_bytes() == b"the committed checkpoint"
    assert (tmp_path / f"results/smoke/runs/{run}/environment.json").read_text() == '{"cpu": "the committed run\'s"}\n'
    assert (tmp_path / f"results/smoke/logs/train/{run}.log").read_text().startswith("restored from")
    # its committed evaluation is restored beside it (evaluating the fake checkpoint would fail)
    evaluation = f"evals/{run}/T6.csv"
    (tmp_path / "workflow/reference/smoke" / evaluation).parent.mkdir(parents=True)
    (tmp_path / "workflow/reference/smoke" / evaluation).write_text("T,value\n6,50.0\n")
    records = evaluation.replace(".csv", ".npz")
    # committed before per-item records were kept: made again (evaluating the fake checkpoint fails)
    done = workflow(f"results/smoke/{evaluation}")
    assert done.returncode != 0 and "Error in rule evaluate" in done.stderr
    (tmp_path / "workflow/reference/smoke" / records).write_bytes(b"the committed records")
    done = workflow(f"results/smoke/{evaluation}")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"results/smoke/{evaluation}").read_text() == "T,value\n6,50.0\n"
    assert (tmp_path / f"results/smoke/{records}").read_bytes() == b"the committed records"
    assert (tmp_path / f"results/smoke/logs/evaluate/{run}/T6.log").read_text().startswith("restored from")
    # a checkpoint trained here (not the committed one) is evaluated afresh
    (tmp_path / f"results/smoke/runs/{run}/checkpoint.pt").write_bytes(b"another checkpoint")
    # (--forcerun takes several values: in the --opt=value form it cannot swallow the target)
    planned = workflow("-n", "-p", "--forcerun=evaluate", f"results/smoke/{evaluation}")
    assert planned.returncode == 0, planned.stderr
    assert f"cmp -s results/smoke/runs/{run}/checkpoint.pt workflow/reference/smoke/runs/{run}/checkpoint.pt" \
        in planned.stdout
    assert [line.split()[0] for line in _job_stats(planned.stdout)] == ["evaluate", "total"]
    done = workflow("--forcerun=evaluate", f"results/smoke/{evaluation}")
    # the one job, the evaluation of the fake checkpoint, is what fails
    assert done.returncode != 0 and "Error in rule evaluate" in done.stderr and "tfsnn evaluate" in done.stderr
    assert "Error in rule train" not in done.stderr
    # with reuse_committed=False (or another config), the job trains: it is given no committed run
    planned = workflow("-n", "-p", "--forcerun=train", f"results/smoke/runs/{run}/checkpoint.pt",
                       "--config", "reuse_committed=False")
    assert planned.returncode == 0, planned.stderr
    assert "if [ -n '' ]" in planned.stdout and "tfsnn train" in planned.stdout


def test_the_small_scale_tests_on_the_whole_test_split_and_says_so_in_the_file_names():
    # test_data: {test_size: null}: every evaluation replaces the run's 2,000-image subset by the
    # whole split; the trainings are not changed (they train on their subsets)
    done = snakemake("-n", "-p", "--forceall", "results/small/table6.csv", "--config", "scale=small")
    assert done.returncode == 0, done.stderr
    assert "cifar10-cifar-resnet18-mtt-samples3-t_max6-t_min1-seed9/T1-2-4-6-8-16-32-64-test_sizeall.csv" in done.stdout
    assert "--set data.test_size=null" in done.stdout
    assert all("data.test_size" not in line for line in done.stdout.splitlines() if "tfsnn train" in line)


def test_an_analysis_of_the_training_set_keeps_its_name_and_data_whatever_the_test_data():
    # Table 13's gradients read the training set (reads_test_set=False): the small scale's
    # test_data does not reach them, so their committed results (tag without it) still restore
    done = snakemake("-n", "-p", "--forceall", "results/small/table13.csv", "--config", "scale=small")
    assert done.returncode == 0, done.stderr
    analyses = [line for line in done.stdout.splitlines() if "tfsnn analyze gradients" in line]
    assert analyses and all("data.test_size" not in line for line in analyses)
    kept = {p.name for p in Path("workflow/reference/small/analyses").glob("*/gradients-*.csv")}
    assert {re.search(r"gradients-\w{8}\.csv", line).group(0) for line in analyses} <= kept


def test_analyses_the_scale_excepts_keep_their_runs_test_data():
    # test_data_except: [noise, estimation] at small: Figs. 5-8's analyses test on the runs' own
    # 2,000 images, under the names their committed results have
    done = snakemake("-n", "-p", "--forceall", "results/small/fig8.csv", "results/small/fig5.csv",
                     "--config", "scale=small")
    assert done.returncode == 0, done.stderr
    for analysis in ("noise", "estimation"):
        lines = [line for line in done.stdout.splitlines() if f"tfsnn analyze {analysis}" in line]
        assert lines and all("data.test_size" not in line for line in lines)
        kept = {p.name for p in Path("workflow/reference/small/analyses").glob(f"*/{analysis}-*.csv")}
        assert {re.search(rf"{analysis}-\w{{8}}\.csv", line).group(0) for line in lines} <= kept
