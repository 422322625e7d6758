"""Tables beside the paper, the claims' verdicts and the comparison of methods, on hand-made
result rows whose answers are known."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tfsnn.io import write_records
from tfsnn.report.compare import comparison, paper_values, read_item_records, read_results
from tfsnn.report.statistics import Group, contrast
from tfsnn.report.tables import assemble, part, read_reference, side_by_side

REFERENCE = "workflow/reference/reference_values.csv"


def provenance(**extra):
    return {"scale": "test", "data_source": "pack x", "git_commit": "abc", "git_dirty": False, **extra}


def write(tmp_path, name, rows):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_evaluation_part_keeps_the_selected_T_as_timesteps(tmp_path):
    csv = write(tmp_path, "eval.csv", [provenance(T=t, config=f"{t}-{t}", accuracy=50.0 + t, seed=0, dataset="cifar10",
                                                  method="mtt") for t in (2, 3, 4)])
    table = assemble("table4", [part(csv, "MTT", "cifar100", "cifar10", select={"T": [2, 4]})])
    assert table["timestep"].tolist() == ["2", "4"]
    assert table["value"].tolist() == [52.0, 54.0]
    assert set(table["dataset"]) == {"cifar100"} and set(table["data_stand_in"]) == {"cifar10"}
    assert set(table["dataset_used"]) == {"cifar10"} and set(table["training_method"]) == {"mtt"}


def test_interpolation_along_another_metric(tmp_path):
    # accuracy 90 at 1 step, 96 at 2 steps: at 1.2 steps it reads 91.2
    rows = [provenance(metric=m, value=v, threshold=th, seed=0)
            for th, steps, acc in [(0.5, 1.0, 90.0), (0.9, 2.0, 96.0)]
            for m, v in [("avg_timesteps", steps), ("top1_acc", acc)]]
    csv = write(tmp_path, "exit.csv", rows)
    table = assemble("table5", [part(csv, "SEENN-I", "cifar10", select={"metric": "top1_acc"}, value="value",
                                     interpolate={"along": "avg_timesteps", "key": "threshold", "at": [1.2]})])
    assert table["timestep"].tolist() == ["1.20"]
    assert table["value"].iloc[0] == pytest.approx(91.2)


def test_interpolation_outside_the_curve_is_nan_with_a_note(tmp_path):
    """Table 5: np.interp clamps outside the curve, so both cells read the end point's accuracy
    (the old smoke table: identical values at 1.09 and 1.20). Now NaN, with a note; inside, the
    value between the two thresholds around it, named."""
    rows = [provenance(metric=m, value=v, threshold=th, seed=0)
            for th, steps, acc in [(0.9, 1.5, 90.0), (0.99, 2.0, 96.0), (0.999, 2.0, 94.0), (1.01, 4.0, 97.0)]
            for m, v in [("avg_timesteps", steps), ("top1_acc", acc)]]
    csv = write(tmp_path, "exit.csv", rows)
    table = assemble("table5", [part(csv, "SEENN-I", "cifar10", select={"metric": "top1_acc"}, value="value",
                                     interpolate={"along": "avg_timesteps", "key": "threshold",
                                                  "at": [1.2, 1.09, 1.75, 2.0, 3.0]})])
    values = table.set_index("timestep")["value"]
    assert math.isnan(values["1.20"]) and math.isnan(values["1.09"])
    notes = table.set_index("timestep")["note"]
    assert "outside the measured curve [1.5, 4]" in notes["1.20"] and "not extrapolated" in notes["1.09"]
    assert values["1.75"] == pytest.approx(92.5)  # between 90 at 1.5 and the mean 95 of the two at 2.0
    assert values["2.00"] == pytest.approx(95.0) and values["3.00"] == pytest.approx(96.0)
    between = table.set_index("timestep")["interpolated_between"]
    assert notes["1.75"] == "" and between["1.75"] == "threshold 0.9 (avg_timesteps 1.5) and threshold 0.99 " \
                                                      "(avg_timesteps 2)"
    assert between["2.00"] == "threshold 0.999 (avg_timesteps 2)"
    # the table's PDF notes name them; the side-by-side keeps the NaN (no paper value is met by a clamp)
    from tfsnn.report.render import notes as table_notes

    lines = table_notes(table.assign(git_commit="abc", git_dirty=False))
    assert any(line.startswith("SEENN-I 1.20: avg_timesteps 1.2 lies outside") for line in lines)
    side = side_by_side(table[table.timestep.isin(["1.20", "1.09"])], read_reference(REFERENCE, "table5"))
    assert side["ours"].isna().all()


def test_metric_map_joins_only_the_like_for_like_metric(tmp_path):
    """Table 13: the summed loss's weight gradient norm is compared with the paper's; the mean
    loss's is reported beside it, under its own name, with no paper value."""
    rows = [provenance(metric=m, value=v, seed=0, T=6, split="train")
            for m, v in [("weight_grad_norm_sum_loss", 40.0), ("weight_grad_norm_mean_loss", 0.0008),
                         ("input_grad_norm", 7.0)]]
    csv = write(tmp_path, "grad.csv", rows)
    table = assemble("table13", [part(csv, "SDT", "cifar100", select={}, timestep=None, metric=None,
                                      metric_map={"weight_grad_norm_sum_loss": "weight_grad_norm"}, value="value",
                                      note="which is which")])
    assert table["metric"].tolist() == ["weight_grad_norm", "weight_grad_norm_mean_loss", "input_grad_norm"]
    assert table["measured_metric"].tolist()[0] == "weight_grad_norm_sum_loss"
    assert set(table["note"]) == {"which is which"}
    side = side_by_side(table, read_reference(REFERENCE, "table13")).set_index(["method", "metric"])
    assert side.loc[("SDT", "weight_grad_norm"), "paper"] == 38.08
    assert side.loc[("SDT", "weight_grad_norm"), "ours"] == 40.0
    assert math.isnan(side.loc[("SDT", "weight_grad_norm_mean_loss"), "paper"])
    with pytest.raises(ValueError, match="metric=None"):
        part(csv, "SDT", "cifar100", metric_map={"a": "b"})


def test_table11_reads_each_cells_last_epoch(tmp_path):
    from tfsnn.report.figures import combined, draw, final_epoch

    def metrics(epochs, final):
        return pd.DataFrame([provenance(epoch=e, metric="test_acc", T=6, seed=0, value=final - (epochs - e))
                             for e in range(1, epochs + 1)])

    fields = {"s=1 e=4": {"samples": 1, "epochs": 4, "budget": 4}, "s=2 e=2": {"samples": 2, "epochs": 2, "budget": 4}}
    curves = {"s=1 e=4": metrics(4, 60.0), "s=2 e=2": metrics(2, 55.0)}
    data = combined(curves, fields)
    assert set(data.columns) >= {"samples", "epochs", "budget"}
    last = final_epoch(data).set_index("curve")
    assert last.loc["s=1 e=4", "value"] == 60.0 and last.loc["s=2 e=2", "value"] == 55.0
    assert last.loc["s=1 e=4", "epoch"] == 4 and last.loc["s=2 e=2", "epoch"] == 2
    drawn = draw("sampling_number", curves, tmp_path / "t.pdf", tmp_path / "t.png", fields=fields)
    assert (tmp_path / "t.pdf").is_file() and len(drawn) == 6 and set(drawn["budget"]) == {4}


def test_landscape_figure_draws_both_splits(tmp_path):
    from tfsnn.report.figures import draw

    def curve(rise):
        return pd.DataFrame([provenance(metric="loss", alpha=a, value=1 + rise * a * a, split=split, seed=0)
                             for split in ("train", "test") for a in (-1.0, 0.0, 1.0)])

    data = draw("landscape", {"SDT": curve(2.0), "MTT": curve(1.0)}, tmp_path / "f.pdf", tmp_path / "f.png")
    assert set(data["split"]) == {"train", "test"} and (tmp_path / "f.png").is_file()


def test_missing_rows_are_an_error_naming_the_csv(tmp_path):
    csv = write(tmp_path, "eval.csv", [provenance(T=2, accuracy=1.0, seed=0)])
    with pytest.raises(ValueError, match="eval.csv"):
        assemble("table4", [part(csv, "MTT", "cifar10", select={"T": [6]})])


def test_side_by_side_means_over_seeds_and_subtracts_the_paper():
    paper = read_reference(REFERENCE, "table4")
    ours = pd.DataFrame([{"dataset": "cifar10", "method": "MTT", "timestep": "6", "metric": "top1_acc",
                          "value": v, "seed": s} for s, v in [(0, 95.0), (1, 97.0)]])
    side = side_by_side(ours, paper)
    row = side[(side.dataset == "cifar10") & (side.timestep == "6")].iloc[0]
    printed = paper[(paper.dataset == "cifar10") & (paper.timestep == "6")]["value"].iloc[0]
    assert row.ours == 96.0 and row.seeds == 2 and row["std"] == pytest.approx(math.sqrt(2))
    assert row.difference == pytest.approx(96.0 - printed)
    assert side["paper"].notna().sum() == len(paper)  # every value the paper prints is shown


def test_a_stand_in_scale_shows_its_models_once_and_compares_effects_not_accuracies():
    # small scale: the CIFAR-10 models serve Table 4's CIFAR-10 and (as a stand-in) CIFAR-100
    paper = read_reference(REFERENCE, "table4")
    ours = pd.DataFrame([{"dataset": dataset, "data_stand_in": stand_in, "method": "MTT", "timestep": str(t),
                          "metric": "top1_acc", "value": value, "seed": 0, "config_hash": "mtt-0", "scale": "small"}
                         for dataset, stand_in in [("cifar10", ""), ("cifar100", "cifar10")]
                         for t, value in [(2, 38.0), (6, 40.0)]])
    side = side_by_side(ours, paper).set_index(["dataset", "timestep"])
    assert side.loc[("cifar10", "2"), "ours"] == 38.0
    assert side.loc["cifar100", "ours"].isna().all()  # shown once, under the dataset that is itself
    assert side["difference"].isna().all()  # not the paper's data: no "ours - paper"
    printed = paper[paper.dataset == "cifar10"].set_index("timestep")["value"]
    row = side.loc[("cifar10", "2")]
    assert row["effect_reference"] == "6" and row["ours_effect"] == pytest.approx(-2.0)
    assert row["paper_effect"] == pytest.approx(printed["2"] - printed["6"])
    assert row["effect_difference"] == pytest.approx(-2.0 - (printed["2"] - printed["6"]))


def test_one_method_on_two_architectures_is_labelled_by_architecture():
    paper = read_reference(REFERENCE, "table8")
    assert {"SDT (b-resnet50)", "MTT (b-resnet72)"} <= set(paper["method"])


def test_figures_show_the_mean_over_seeds(tmp_path):
    from tfsnn.report.figures import draw

    def seeds(rows):
        return pd.concat([pd.DataFrame(rows).assign(seed=s, value=lambda f, s=s: f["value"] + s) for s in (0, 1)])
    curves = {
        "granularity": {"g=1": seeds([{"T": t, "accuracy": 50.0 + t, "value": 0.0} for t in (2, 3)]),
                        "g=8": seeds([{"T": t, "accuracy": 40.0 + t, "value": 0.0} for t in (2, 3)])},
        "landscape": {"SDT": seeds([{"metric": "loss", "alpha": a, "value": 1.0 + a * a} for a in (-1.0, 0.0, 1.0)])},
        "noise": {"MTT": seeds([{"metric": "top1_acc", "sigma2": s2, "repeat": r, "value": 80.0 - 100 * s2}
                                for s2 in (0.0, 0.1) for r in (0, 1)])},
        "bn_curves": {"MTT": seeds([{"epoch": e, "metric": m, "value": 50.0 + e} for e in (1, 2)
                                    for m in ("test_acc", "test_acc_uncalibrated")])},
        "estimation": {"MTT": seeds([{"metric": m, "value": 50.0, "config": c, "split": "validate"}
                                     for c in ("1-2", "2-1") for m in ("top1_acc", "predicted_acc")]
                                    + [{"metric": "pearson_r", "value": 0.5, "split": "validate"}])},
    }
    for kind, data in curves.items():
        out = draw(kind, data, tmp_path / f"{kind}.pdf", tmp_path / f"{kind}.png")
        assert set(out["seed"]) == {0, 1} and (tmp_path / f"{kind}.png").stat().st_size > 0, kind


def test_noise_figure_spaces_the_levels_evenly_and_labels_each():
    import matplotlib.pyplot as plt

    from tfsnn.report.figures import noise

    levels = (0.0, 0.001, 0.002, 0.01)
    data = pd.DataFrame([{"curve": c, "metric": "top1_acc", "sigma2": s2, "seed": 0, "value": v - 1000 * s2}
                         for c, v in (("SDT", 40.0), ("MTT", 41.0)) for s2 in levels])
    fig, ax = plt.subplots()
    noise(data, ax)
    assert list(ax.get_xticks()) == [0, 1, 2, 3]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.001", "0.002", "0.01"]
    assert list(ax.lines[1].get_ydata()) == [41.0, 40.0, 39.0, 31.0]
    plt.close(fig)


def test_flexibility_figure_shows_each_training_over_seeds(tmp_path):
    from tfsnn.report.figures import draw

    def seeds(rows):
        return pd.concat([pd.DataFrame(rows).assign(seed=s) for s in (0, 1, 2)])
    curves = {"SDT*": seeds([{"T": t, "accuracy": 40.0 + t} for t in (2, 3)]),
              "SDT": seeds([{"T": t, "accuracy": 30.0 + 2 * t} for t in (2, 3)]),
              "MTT": seeds([{"T": t, "accuracy": 41.0 + t} for t in (2, 3)])}
    out = draw("flexibility", curves, tmp_path / "f.pdf", tmp_path / "f.png")
    assert len(out) == 18 and set(out["curve"]) == {"SDT*", "SDT", "MTT"}
    assert (tmp_path / "f.png").stat().st_size > 0


def test_job_costs_read_snakemakes_benchmark_files(tmp_path):
    from tfsnn.report.cost import family_costs, job_costs

    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for path, seconds in [("runs/fsdd-spikes-shd-fc-sdt-T100-seed0/benchmark.tsv", 120.0),
                          ("runs/cifar10-cifar-resnet18-sdt-T6-seed0/benchmark.tsv", 600.0),
                          ("runs/cifar10-cifar-resnet18-mtt-samples3-seed0/benchmark.tsv", 1200.0),
                          ("evals/cifar10-cifar-resnet18-sdt-T6-seed0/T2-3.tsv", 30.0)]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(header + f"{seconds}\t0:00:00\t900.5\t0\t0\t0\t0\t0\t99\t{seconds - 1}\n")
    jobs = job_costs(tmp_path, ["cifar-resnet18", "shd-fc"])
    assert sorted(zip(jobs["rule"], jobs["family"])) == [
        ("evaluate", "cifar-resnet18"), ("train", "cifar-resnet18"), ("train", "cifar-resnet18"), ("train", "shd-fc")]
    assert jobs.loc[jobs["job"] == "T2-3", "cpu_s"].item() == 29.0
    summary = family_costs(jobs).set_index(["family", "rule"])
    assert summary.loc[("cifar-resnet18", "train"), "jobs"] == 2
    assert summary.loc[("cifar-resnet18", "train"), "wall_h"] == pytest.approx(0.5)
    assert summary.loc[("cifar-resnet18", "train"), "longest_wall_min"] == pytest.approx(20.0)
    assert summary.loc[("cifar-resnet18", "train"), "longest_cpu_min"] == pytest.approx(1199 / 60)
    assert summary.loc[("all", ""), "jobs"] == 4
    assert summary.loc[("all", ""), "cpu_h"] == pytest.approx((119 + 599 + 1199 + 29) / 3600)


def test_comparison_judges_a_difference_by_its_t_interval_over_seeds_and_test_sets(tmp_path):
    rows = [provenance(label=label, method=label.lower(), seed=seed, config="6-6", accuracy=acc, samples=2000,
                       dataset="cifar10")
            for label, accs in [("MTT", [90.0, 92.0, 91.0]), ("A", [90.5, 92.5, 91.5]), ("B", [80.0, 80.2, 80.4])]
            for seed, acc in enumerate(accs)]
    frame = comparison(pd.DataFrame(rows))
    verdicts = dict(zip(frame["label"], frame["verdict"]))
    assert verdicts == {"MTT": "", "A": "within noise", "B": "worse"}
    # by hand, B without per-item records: Welch over the independent seeds, d = -10.8,
    # se^2 = 0.2^2 / 3 + 1^2 / 3, df = se^4 / ((0.04 / 3)^2 / 2 + (1 / 3)^2 / 2)
    b = frame.set_index("label").loc["B"]
    se2 = 0.04 / 3 + 1.0 / 3
    half = stats.t.ppf(0.975, se2**2 / ((0.04 / 3) ** 2 / 2 + (1 / 3) ** 2 / 2)) * math.sqrt(se2)
    assert (b["difference"], b["ci_low"], b["ci_high"]) == pytest.approx((-10.8, -10.8 - half, -10.8 + half))
    assert b["test"] == "seeds" and b["mde"] > half
    assert frame.set_index("label").loc["A", "difference"] == pytest.approx(0.5)
    assert frame["T"].tolist() == ["6", "6", "6"]
    # two seeds: t with 1 degree of freedom (12.7) leaves even B's 10 points within the noise
    two = comparison(pd.DataFrame([r for r in rows if r["seed"] < 2]))
    assert dict(zip(two["label"], two["verdict"]))["B"] == "within noise"
    # merging the same rows from two users' files counts each seed once
    path = write(tmp_path, "rows.csv", rows)
    assert len(read_results([path, path])) == len(rows)
    assert paper_values(frame, pd.read_csv(REFERENCE, keep_default_na=False), "cifar10").iloc[0] == 96.84


def test_comparison_with_per_item_records_adds_the_shared_test_items(tmp_path):
    # two methods, three independent seeds each, tested on the same 200 items: the records give
    # the per-seed accuracies of the rows, and the test-set term of the items both saw
    rng = np.random.default_rng(0)
    hard = rng.uniform(0.2, 0.95, 200)
    paths, correct = [], {}
    for label, shift in (("MTT", 0.0), ("mine", 0.05)):
        for seed in range(3):
            right = rng.uniform(size=200) < hard + shift + rng.normal(0, 0.02)
            predicted = np.where(right, 1, 0).astype(np.int16)[None, :]
            correct[(label, seed)] = right.astype(float)
            row = provenance(label=label, method=label, seed=seed, config="6-6", accuracy=100 * right.mean(),
                             samples=200)
            path = write(tmp_path, f"{label}-{seed}.csv", [row])
            write_records({"item": np.arange(200), "target": np.ones(200, np.int16), "config": np.array(["6-6"]),
                           "predicted": predicted}, Path(path).with_suffix(".npz"))
            paths.append(path)
    records = read_item_records(paths)
    assert sorted(records) == sorted((label, seed, "6-6") for label, seed in correct)
    frame = comparison(read_results(paths), records=records).set_index("label")
    mine = frame.loc["mine"]
    estimate = contrast([Group(100 * np.stack([correct[("mine", s)] for s in range(3)])),
                         Group(100 * np.stack([correct[("MTT", s)] for s in range(3)]), -1.0)])
    assert mine["test"] == "seeds and test items" and estimate.test_var > 0
    assert (mine["difference"], mine["ci_low"], mine["ci_high"]) == \
        pytest.approx((estimate.effect, *estimate.interval()))
    # without the records: the seeds alone, a narrower interval that leaves out the shared items
    seeds_only = comparison(read_results(paths)).set_index("label").loc["mine"]
    assert seeds_only["test"] == "seeds" and seeds_only["difference"] == pytest.approx(mine["difference"])
    assert seeds_only["ci_high"] - seeds_only["ci_low"] < mine["ci_high"] - mine["ci_low"]


def test_merging_tells_runs_apart_by_config_hash_and_data_source(tmp_path):
    rows = [provenance(label="MTT", method="mtt", seed=0, config=c, accuracy=90.0, dataset="cifar10", config_hash="a")
            for c in ("2-2", "6-6")]
    a, same = write(tmp_path, "a.csv", rows), write(tmp_path, "same.csv", rows)
    assert len(read_results([a, same])) == 2  # one run in two files counts once
    seed1 = write(tmp_path, "seed1.csv", [{**r, "seed": 1, "config_hash": "b"} for r in rows])
    assert len(read_results([a, seed1])) == 4
    other = write(tmp_path, "b.csv", [{**r, "config_hash": "b"} for r in rows])
    with pytest.raises(ValueError, match=r"^label 'MTT' seed 0 comes from two different runs \(config_hash a in "
                                         r".*a.csv, b in .*b.csv\): give them different labels$"):
        read_results([a, other])
    moved = write(tmp_path, "d.csv", [{**r, "data_source": "pack y"} for r in rows])
    with pytest.raises(ValueError, match=r"\(data_source pack x in .*a.csv, pack y in .*d.csv\)"):
        read_results([a, moved])


def test_comparison_needs_two_seeds_to_judge_noise():
    rows = pd.DataFrame([{"label": label, "seed": 0, "config": "2-3", "accuracy": acc}
                         for label, acc in [("MTT", 50.0), ("mine", 60.0)]])
    frame = comparison(rows)
    assert frame.set_index("label").loc["mine", "verdict"] == "unknown (one seed)"
    assert frame["T"].tolist() == ["", ""]


def test_summary_shows_the_scorecard_models_and_costs_and_replaces_only_its_section(tmp_path):
    from tfsnn.report.summary import replace_section, summary_markdown

    card = pd.DataFrame([{"claim": "a", "family": "headline", "paper_effect": 3.0, "effect": 1.5, "ci_low": 0.5,
                          "ci_high": 2.5, "seeds": "3, 3", "images": 2000.0, "unit": "points", "criterion": "> 0",
                          "verdict": "holds", "size": "paper's inside ours", "mde": 1.2},
                         {"claim": "b", "family": "exploratory", "paper_effect": math.nan, "effect": math.nan,
                          "ci_low": math.nan, "ci_high": math.nan, "seeds": "", "images": math.nan, "unit": "points",
                          "criterion": "> 0", "verdict": "not run at this scale", "size": "", "mde": math.nan}])
    models = pd.DataFrame({"run": ["x-mtt-seed0", "x-mtt-seed1"], "test_acc": [40.0, 44.0]})
    jobs = pd.DataFrame({"rule": ["train", "train"], "run": ["x-mtt-seed0", "x-mtt-seed1"], "family": ["f", "f"],
                         "job": ["train", "train"], "wall_s": [1800.0, 3600.0], "cpu_s": [1700.0, 3500.0],
                         "max_rss_mb": [900.0, 950.0]})
    planned = ["x-mtt-seed0", "x-mtt-seed1", "x-mtt-seed2", "x-mtt-seed3", "y-sdt-seed0"]
    text = summary_markdown(card, models, jobs, planned, "a note")
    assert ("| a | headline | 3.00 | 1.50 [0.50, 2.50] | points | 3, 3 | 2000 | > 0 | holds | paper's inside ours "
            "| 1.20 |") in text
    assert "| b | exploratory |  |  | points |  |  | > 0 | not run at this scale |  |  |" in text
    assert "| x-mtt | 42.0 | 2.83 | 2 |" in text and "finished: 2 of 5.** The other 3 need about 1.4 CPU hours" in text
    # x-mtt's seeds 2 and 3 at the mean of its two measured trainings, 2 x (1700 + 3500) / 2 s = 1.44 h;
    # y-sdt has none measured
    assert "(1 of them in experiments not measured yet, not counted)" in text
    assert "| f | train | 2 | 1.50 | 1.44 | 60.0 | 58.3 |" in text
    assert "| all |  | 2 | 1.50 | 1.44 | 60.0 | 58.3 |" in text
    assert "of the 2 trainings, 0 evaluations and 0 analyses kept" in text
    readme = "intro\n<!-- s-results:begin -->\nold\n<!-- s-results:end -->\nrest\n"
    replaced = "intro\n<!-- s-results:begin -->\nnew\n<!-- s-results:end -->\nrest\n"
    assert replace_section(readme, "s-results", "new") == replaced
    with pytest.raises(ValueError, match="markers"):
        replace_section("no markers", "s-results", "new")
    assert summary_markdown(card, models, jobs, planned, "n", "f/flexibility.png").startswith("![accuracy against T](f")
    assert "finished: all 2.**" in summary_markdown(card, models, jobs, planned[:2], "n")


def test_rows_of_one_model_that_differ_in_more_than_the_key_all_stay():
    # section 4.2: one model's cosine at several epochs, all under one key (method, T, metric)
    ours = pd.DataFrame([{"dataset": "cifar100", "data_stand_in": "cifar10", "method": "SDT", "timestep": "3 vs 6",
                          "metric": "grad_cosine_similarity", "value": v, "epoch": e, "seed": 0, "config_hash": "a",
                          "scale": "small"} for e, v in [(1, 0.9), (2, 0.8)]])
    side = side_by_side(ours, read_reference(REFERENCE, "sec4.2"))
    assert side.set_index("method").loc["SDT", "ours"] == pytest.approx(0.85)
