"""Tables beside the paper, the claims' verdicts and the comparison of methods, on hand-made
result rows whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest

from tfsnn.report import claims
from tfsnn.report.compare import comparison, paper_values, read_results
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


def test_one_method_on_two_architectures_is_labelled_by_architecture():
    paper = read_reference(REFERENCE, "table8")
    assert {"SDT (b-resnet50)", "MTT (b-resnet72)"} <= set(paper["method"])


@pytest.mark.parametrize("values, kind, margin, expected", [
    ([1.0, 1.1, 0.9], "greater", 0.0, "holds"),
    ([-1.0, -1.1, -0.9], "greater", 0.0, "does not hold"),
    ([1.0, -1.0, 0.5], "greater", 0.0, "inconclusive"),
    ([-0.2, -0.3, -0.25], "not_worse", 0.5, "holds"),
    ([-2.0, -2.1, -1.9], "not_worse", 0.5, "does not hold"),
    ([0.96, 0.97, 0.95], "at_least", 0.94, "holds"),
    ([5.0], "greater", 0.0, "inconclusive (one replicate)"),
])
def test_verdicts(values, kind, margin, expected):
    result = claims.verdict(values, kind, margin)
    assert result["verdict"] == expected
    assert result["effect"] == pytest.approx(np.mean(values))
    if len(values) > 1:
        assert result["se"] == pytest.approx(np.std(values, ddof=1) / math.sqrt(len(values)))


def test_claim_one_model_against_sdt_star_pairs_seeds(tmp_path):
    def rows(table, method, values):
        return [{"table": table, "dataset": "cifar100", "method": method, "timestep": str(t), "metric": "top1_acc",
                 "value": v + seed, "seed": seed, "data_stand_in": "", **provenance()}
                for seed in (0, 1) for t, v in values.items()]
    t1 = rows("table1", "SDT*", {2: 60.0, 6: 70.0}) + rows("table1", "SDT", {2: 50.0, 6: 70.0})
    t4 = rows("table4", "MTT", {2: 61.0, 6: 71.0})
    write(tmp_path, "table1.csv", t1)
    write(tmp_path, "table4.csv", t4)
    claim = next(c for c in claims.CLAIMS if c.id == "one-model-matches-sdt")
    card = claims.scorecard(tmp_path, [claim])
    # MTT is 1 point above SDT* at each T for both seeds: effect 1, no spread -> holds
    assert card["effect"].iloc[0] == pytest.approx(1.0) and card["n"].iloc[0] == 2
    assert card["verdict"].iloc[0] == "holds"
    drop = next(c for c in claims.CLAIMS if c.id == "sdt-loses-at-low-T")
    # SDT drops 20 points from T=6 to T=2, MTT 10: effect +10
    assert claims.scorecard(tmp_path, [drop])["effect"].iloc[0] == pytest.approx(10.0)


def test_comparison_marks_differences_within_noise(tmp_path):
    rows = [provenance(label=label, method=label.lower(), seed=seed, config="6-6", accuracy=acc, dataset="cifar10")
            for label, accs in [("MTT", [90.0, 92.0]), ("A", [90.5, 92.5]), ("B", [80.0, 80.2])]
            for seed, acc in enumerate(accs)]
    frame = comparison(pd.DataFrame(rows))
    verdicts = dict(zip(frame["label"], frame["verdict"]))
    assert verdicts == {"MTT": "", "A": "within noise", "B": "worse"}
    assert frame.set_index("label").loc["A", "difference"] == pytest.approx(0.5)
    assert frame["T"].tolist() == ["6", "6", "6"]
    # merging the same rows from two users' files counts each seed once
    path = write(tmp_path, "rows.csv", rows)
    assert len(read_results([path, path])) == len(rows)
    assert paper_values(frame, pd.read_csv(REFERENCE, keep_default_na=False), "cifar10").iloc[0] == 96.84


def test_comparison_needs_two_seeds_to_judge_noise():
    rows = pd.DataFrame([{"label": label, "seed": 0, "config": "2-3", "accuracy": acc}
                         for label, acc in [("MTT", 50.0), ("mine", 60.0)]])
    frame = comparison(rows)
    assert frame.set_index("label").loc["mine", "verdict"] == "unknown (one seed)"
    assert frame["T"].tolist() == ["", ""]
