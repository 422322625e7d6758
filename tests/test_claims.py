"""The claims scorecard (tfsnn.report.claims) on hand-made result rows whose answers are known:
which models form a group, what each model's value is, the verdict rules, Holm's family and the
power table."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from tfsnn.io import write_records
from tfsnn.report import claims, statistics
from tfsnn.report.tables import read_reference

REFERENCE = "workflow/reference/reference_values.csv"


def provenance(**extra):
    return {"scale": "test", "data_source": "pack x", "git_commit": "abc", "git_dirty": False, **extra}


def write(folder, name, rows):
    pd.DataFrame(rows).to_csv(folder / name, index=False)


def models_frame(accuracies, num_classes=10):
    """trained_models() of hand-made runs: config_hash -> test accuracy at the trained T."""
    return pd.DataFrame([{"config_hash": h, "run": f"run-{h}", "dataset": "cifar10", "seed": 0, "T": 6.0,
                          "test_acc": acc, "num_classes": num_classes} for h, acc in accuracies.items()])


def claim(claim_id):
    return next(c for c in claims.CLAIMS if c.id == claim_id)


def test_near_chance_rule_is_twice_chance_at_the_trained_T(tmp_path):
    rows = pd.DataFrame({"config_hash": ["a", "b"]})
    # 10 classes: chance 10 %, the rule 20 %
    assert claims.near_chance(rows, models_frame({"a": 20.0, "b": 85.0})) is None
    said, reason = claims.near_chance(rows, models_frame({"a": 19.9, "b": 85.0}))
    assert said == "no verdict (model near chance)" and "run-a: 19.9 %" in reason and "20.0 %" in reason
    # 100 classes: the rule is 2 %
    assert claims.near_chance(rows, models_frame({"a": 5.0, "b": 85.0}, num_classes=100)) is None
    assert claims.near_chance(rows, models_frame({"b": 85.0}))[0] == "no verdict (trained accuracy unknown)"
    assert claims.near_chance(rows, None)[0] == "no verdict (trained accuracy unknown)"
    # trained_models reads the last epoch's test_acc (at the trained T) of each metrics.csv
    run = tmp_path / "cifar10-x-seed0"
    run.mkdir()
    write(run, "metrics.csv", [{"epoch": e, "metric": m, "T": 6.0 if m == "test_acc" else None, "value": v,
                                "config_hash": "a", "seed": 0, "dataset": "cifar10"}
                               for e, m, v in [(1, "test_acc", 12.0), (1, "train_loss", 2.3), (2, "test_acc", 31.0)]])
    models = claims.trained_models([run / "metrics.csv"])
    assert models.iloc[0][["config_hash", "run", "T", "test_acc", "num_classes"]].tolist() == [
        "a", "cifar10-x-seed0", 6.0, 31.0, 10]


# Table 1 of hand-made models: per seed k, SDT* (one model per T), SDT (trained at T=6: its T=6
# row is SDT*'s too) and NMT, tested at T = 2 and 6 on the same 4 test items
def accuracy(row):
    return 100.0 * np.mean(row)


CORRECT = {  # (model, T) -> what each of the 4 test items got, at seed 0; seed k shifts one item
    ("sdt-T2", 2): [1, 0, 1, 0], ("sdt-T6", 6): [1, 1, 1, 0], ("sdt-T6", 2): [1, 0, 0, 0],
    ("nmt", 2): [1, 1, 1, 0], ("nmt", 6): [1, 1, 1, 1],
}


def correct(model, T, seed):
    row = np.array(CORRECT[(model, T)], dtype=float)
    if seed == 1:  # seed 1's models are right on item 3 as well, seed 2's wrong on item 0
        row[3] = 1.0
    if seed == 2:
        row[0] = 0.0
    return row


def table1(folder, seeds=(0, 1, 2), records=True):
    rows = []
    for seed in seeds:
        for method, model, Ts in [("SDT*", "sdt-T2", [2]), ("SDT*", "sdt-T6", [6]), ("SDT", "sdt-T6", [2, 6]),
                                  ("NMT", "nmt", [2, 6])]:
            rows += [{"table": "table1", "dataset": "cifar100", "dataset_used": "cifar10", "method": method,
                      "timestep": str(T), "metric": "top1_acc", "value": accuracy(correct(model, T, seed)),
                      "config": f"{T}-{T}", "bn_calibrated": False, "seed": seed, "data_stand_in": "",
                      "config_hash": f"{model}-{seed}", **provenance()} for T in Ts]
        if records:
            for model, Ts in [("sdt-T2", [2]), ("sdt-T6", [2, 6]), ("nmt", [2, 6])]:
                predicted = np.stack([np.where(correct(model, T, seed) == 1, 0, 1) for T in Ts])
                write_records({"item": np.array([10, 11, 12, 13]), "target": np.zeros(4, dtype=np.int16),
                               "config": np.array([f"{T}-{T}" for T in Ts]), "bn_calibrated": np.zeros(len(Ts), bool),
                               "predicted": predicted.astype(np.int16)},
                              folder / f"{model}-{seed}.npz", config_hash=f"{model}-{seed}")
    write(folder, "table1.csv", rows)
    hashes = {row["config_hash"] for row in rows}
    return models_frame({h: 60.0 for h in hashes}), claims.item_records(sorted(folder.glob("*.npz")))


def hand_groups(seeds=(0, 1, 2), scalar=False):
    """The groups of one-model-matches-sdt, built by hand: NMT (the mean over T = 2, 6 of its
    correctness), SDT* at T=2 and SDT* at T=6 (minus half of theirs: each is one of the term's two
    rows per seed)."""
    def values(model, Ts, weight):
        rows = [weight * sum(100.0 * correct(model, T, seed) for T in Ts) / 2 for seed in seeds]
        return np.array([[r.mean()] for r in rows]) if scalar else np.stack(rows)
    return [statistics.Group(values("nmt", [2, 6], 1.0)), statistics.Group(values("sdt-T2", [2], -1.0)),
            statistics.Group(values("sdt-T6", [6], -1.0))]


def test_one_model_claim_groups_models_by_recipe_and_pairs_only_the_test_items(tmp_path):
    models, records = table1(tmp_path)
    card = claims.scorecard(tmp_path, [claim("one-model-matches-sdt")], models=models, reference=REFERENCE,
                            records=records).iloc[0]
    # per seed: NMT 87.5 (75 and 100 at T=2, 6), SDT* 62.5 (50, 75); seed 1 adds 25 to every
    # accuracy but SDT T=6 at T=6 (already right), seed 2 takes 25 off: the effect is
    # NMT - SDT*, the mean over the three seeds
    nmt = [np.mean([accuracy(correct("nmt", T, k)) for T in (2, 6)]) for k in (0, 1, 2)]
    star = [np.mean([accuracy(correct("sdt-T2", 2, k)), accuracy(correct("sdt-T6", 6, k))]) for k in (0, 1, 2)]
    assert card["effect"] == pytest.approx(np.mean(nmt) - np.mean(star))
    expected = statistics.contrast(hand_groups())
    assert card["se"] == pytest.approx(expected.se) and card["df"] == pytest.approx(expected.df)
    assert card["seed_var"] == pytest.approx(expected.seed_var) and card["test_var"] == pytest.approx(expected.test_var)
    assert card["seeds"] == "3, 3, 3" and card["images"] == 4
    assert card["test"] == "seeds x 4 test items (per-item records)"
    judged = statistics.judge(expected, "equivalent", 1.0)
    assert (card["ci_low"], card["ci_high"]) == pytest.approx((judged["ci_low"], judged["ci_high"]))
    assert card["mde"] == pytest.approx(judged["mde"])
    # the paper's effect: Table 1's NMT minus SDT*, the mean over T = 2..6 (+0.36), like for like
    paper = read_reference(REFERENCE, "table1")
    value = paper.assign(value=paper["value"].astype(float)).groupby("method")["value"].mean()
    assert card["paper_effect"] == pytest.approx(value["NMT"] - value["SDT*"])
    assert card["family"] == "headline" and card["criterion"] == "|effect| < 1"


def test_without_records_each_model_is_one_value_and_seeds_pair_nothing(tmp_path):
    models, _ = table1(tmp_path, records=False)
    card = claims.scorecard(tmp_path, [claim("one-model-matches-sdt")], models=models).iloc[0]
    expected = statistics.contrast(hand_groups(scalar=True))
    # Welch over three groups: sum_g var_g / n over the per-model values (each SDT* at half weight)
    nmt = np.array([87.5, 100.0, 62.5])
    sdt2, sdt6 = np.array([50.0, 75.0, 25.0]), np.array([75.0, 100.0, 50.0])
    hand = nmt.var(ddof=1) / 3 + (sdt2 / 2).var(ddof=1) / 3 + (sdt6 / 2).var(ddof=1) / 3
    assert card["se"] ** 2 == pytest.approx(hand) and card["se"] == pytest.approx(expected.se)
    assert card["test"] == "seeds (one value per model)" and card["images"] == 1
    # the per-seed differences NMT - SDT* (25, 12.5, 25) would have a smaller spread, paired by
    # seed number; but the models of two recipes are independent trainings
    assert card["se"] ** 2 > np.var([25.0, 12.5, 25.0], ddof=1) / 3


def test_low_T_drop_is_a_within_model_contrast_of_two_groups(tmp_path):
    models, records = table1(tmp_path)
    card = claims.scorecard(tmp_path, [claim("sdt-loses-at-low-T")], models=models, reference=REFERENCE,
                            records=records).iloc[0]
    # (NMT(2) - NMT(6)) - (SDT(2) - SDT(6)): seed 0 (75 - 100) - (25 - 75) = 25, seed 1
    # (100 - 100) - (50 - 100) = 50, seed 2 (50 - 75) - (0 - 50) = 25
    assert card["effect"] == pytest.approx(100.0 / 3) and card["seeds"] == "3, 3"
    assert card["paper_effect"] == pytest.approx((73.47 - 75.77) - (70.08 - 75.63))


def test_a_condition_near_chance_gives_no_verdict(tmp_path):
    models, records = table1(tmp_path)
    rows = pd.read_csv(tmp_path / "table1.csv")
    # seed 2's SDT at T=2 is 0 % right: below twice chance (20 %) although every model trained well
    assert rows[(rows["method"] == "SDT") & (rows["timestep"] == 2) & (rows["seed"] == 2)]["value"].item() == 0.0
    card = claims.scorecard(tmp_path, [claim("sdt-loses-at-low-T")], models=models, records=records).iloc[0]
    assert card["verdict"] == "no verdict (model near chance)" and "SDT seed 2 T=2: 0.0 %" in card["reason"]
    assert not math.isnan(card["effect"])  # the effect is still shown
    weak = models.assign(test_acc=np.where(models["config_hash"] == "nmt-1", 15.0, models["test_acc"]))
    card = claims.scorecard(tmp_path, [claim("one-model-matches-sdt")], models=weak, records=records).iloc[0]
    assert card["verdict"] == "no verdict (model near chance)" and "run-nmt-1" in card["reason"]


def table12_rows(gap, spread):
    """Table 12 of 10 MTT models: at T=2, T_max statistics ``gap`` -/+ ``spread`` points above the
    recalculated ones (the spread's mean over the seeds: -spread / 10)."""
    return [{"table": "table12", "dataset": "cifar100", "dataset_used": "cifar10", "method": method,
             "timestep": "2", "metric": "top1_acc", "seed": k, "config_hash": f"mtt-{k}", "data_stand_in": "",
             "value": 50.0 + k + (gap + spread * ((7 * k) % 3 - 1) if method == "MTT (T=Tmax BN stats)" else 0.0),
             **provenance()}
            for k in range(10) for method in ("MTT (T=Tmax BN stats)", "MTT (recalculated BN stats)")]


def test_holm_adjusts_over_all_six_headline_claims(tmp_path):
    # a clear equivalence: 10 seeds of T_max and recalculated statistics 0.1 -/+ 0.05 points apart,
    # the other five headline claims untested (p = 1 in the family): Holm's p is 6 times the raw one
    rows = table12_rows(0.1, 0.05)
    write(tmp_path, "table12.csv", rows)
    models = models_frame({f"mtt-{k}": 50.0 for k in range(10)})
    headline = [c for c in claims.CLAIMS if c.headline]
    not_run = {s: "not here" for c in headline for s in c.sources if s != "table12"}
    card = claims.scorecard(tmp_path, headline, models=models, not_run=not_run).set_index("claim")
    row = card.loc["t-max-statistics-serve"]
    assert row["effect"] == pytest.approx(0.095) and row["seeds"] == "10"
    assert row["p_holm"] == pytest.approx(min(1.0, 6 * row["p_value"]))
    assert row["verdict"] == "holds" and row["reason"].startswith("Holm over the headline claims")
    assert set(card.drop(index="t-max-statistics-serve")["verdict"]) == {"not run at this scale"}
    exploratory = claims.scorecard(tmp_path, [claim("t-max-statistics-serve")], models=models,
                                   not_run={}).iloc[0]
    assert exploratory["p_holm"] == pytest.approx(min(1.0, 6 * row["p_value"]))  # always the family of six


def test_equivalence_needs_both_one_sided_tests(tmp_path):
    # 0.8 -/+ 0.1 points apart: outside the margin of 0.5, significantly so at 10 seeds
    write(tmp_path, "table12.csv", table12_rows(0.8, 0.1))
    models = models_frame({f"mtt-{k}": 50.0 for k in range(10)})
    card = claims.scorecard(tmp_path, [claim("t-max-statistics-serve")], models=models).iloc[0]
    assert card["effect"] == pytest.approx(0.79) and card["verdict"] == "does not hold"


def test_smaller_gradients_needs_both_norms(tmp_path):
    # MTT's weight gradient is half SDT's at every seed, its input gradient the same: the claim
    # ("shorter gradient of both weights and inputs") is decided by the input norm
    rows = [{"table": "table13", "dataset": "cifar100", "method": method, "timestep": "", "metric": metric,
             "value": value * (1 + 0.01 * k), "seed": k, "config_hash": f"{method}-{k}", **provenance()}
            for k in range(5)
            for method, metric, value in [("SDT", "weight_grad_norm", 2.0), ("MTT", "weight_grad_norm", 1.0),
                                          ("SDT", "input_grad_norm", 1.0), ("MTT", "input_grad_norm", 1.0)]]
    write(tmp_path, "table13.csv", rows)
    models = models_frame({row["config_hash"]: 50.0 for row in rows})
    card = claims.scorecard(tmp_path, [claim("smaller-gradients")], models=models).iloc[0]
    assert card["effect"] == pytest.approx(0.0, abs=1e-12) and "deciding: input_grad_norm" in card["replicates"]
    assert card["verdict"] == "inconclusive"


def test_noise_claims_leave_out_the_levels_where_a_model_is_near_chance(tmp_path):
    # sigma^2 = 0.1: MTT at 15 %, below twice chance: that level is left out, and the effect is the
    # drop difference at sigma^2 = 0.01 alone: (45 - 50) - (30 - 50) = 15
    rows = [{"curve": curve, "metric": "top1_acc", "target": "weights", "sigma2": s2, "repeat": 0, "seed": k,
             "value": value + k, "dataset": "cifar10", "config_hash": f"{curve}-{k}", **provenance()}
            for k in range(3) for curve, levels in [("MTT", {0.0: 50.0, 0.01: 45.0, 0.1: 14.0}),
                                                    ("SDT", {0.0: 50.0, 0.01: 30.0, 0.1: 25.0})]
            for s2, value in levels.items()]
    write(tmp_path, "fig5.csv", rows)
    models = models_frame({row["config_hash"]: 50.0 for row in rows})
    card = claims.scorecard(tmp_path, [claim("robust-to-weight-noise")], models=models).iloc[0]
    assert card["effect"] == pytest.approx(15.0) and "left out: sigma^2 = 0.1" in card["replicates"]
    assert card["verdict"] != "no verdict (model near chance)"


def test_a_claim_whose_source_is_not_run_says_so_beside_the_papers_effect(tmp_path):
    models, records = table1(tmp_path)
    ran, skipped = claim("one-model-matches-sdt"), claim("deep-networks")
    card = claims.scorecard(tmp_path, [ran, skipped], models=models, reference=REFERENCE, scale="test",
                            not_run={"table8": "the scale lists no cifar-bresnet family"},
                            records=records).set_index("claim")
    row = card.loc["deep-networks"]  # table8.csv does not exist: it was never read
    assert row["verdict"] == "not run at this scale"
    assert row["reason"] == "table8: the scale lists no cifar-bresnet family"
    assert math.isnan(row["effect"]) and row["scale"] == "test"
    assert row["paper_effect"] > 0  # the paper's MTT - SDT on B-ResNet-50/72 (Table 8) is still shown
    assert card.loc["one-model-matches-sdt", "verdict"] in {"holds", "does not hold", "inconclusive"}


def test_one_seed_gives_no_verdict(tmp_path):
    models, records = table1(tmp_path, seeds=(0,))
    card = claims.scorecard(tmp_path, [claim("one-model-matches-sdt")], models=models, records=records).iloc[0]
    assert card["verdict"] == "no verdict (one seed)" and math.isnan(card["ci_low"])
    assert card["effect"] == pytest.approx(87.5 - 62.5)


def test_a_claim_without_a_like_for_like_paper_row_shows_no_paper_effect(tmp_path):
    assert not claim("mtt-matches-sdt").like_for_like
    card = claims.scorecard(tmp_path, [claim("mtt-matches-sdt")], reference=REFERENCE,
                            not_run={"table4": "x", "table1": "y"}).iloc[0]
    assert math.isnan(card["paper_effect"]) and "not like for like" in card["paper_note"]


def test_power_table_asks_for_the_seeds_that_reach_the_target(tmp_path):
    models, records = table1(tmp_path)
    table = claims.power(tmp_path, [claim("sdt-loses-at-low-T")], reference=REFERENCE, records=records,
                         images=(4,))
    row = table.iloc[0]
    # the target: half the paper's like-for-like effect (3.25 / 2), at least 1 point
    assert row["target_half_width"] == pytest.approx(1.625)
    estimate = statistics.contrast([statistics.Group(np.stack([100 * (correct(m, 2, k) - correct(m, 6, k)) * s
                                                               for k in (0, 1, 2)]))
                                    for m, s in [("nmt", 1.0), ("sdt-T6", -1.0)]])
    n, N, half = statistics.required_design(estimate, 1.625, images=(4,))[0]
    assert (row["seeds_needed"], row["images"]) == (n, N)
    assert row["seed_component"] == pytest.approx(estimate.seed_component)


def test_the_committed_smoke_results_give_no_verdicts():
    card = claims.scorecard("workflow/reference/smoke", reference=REFERENCE)
    assert card["claim"].tolist() == [c.id for c in claims.CLAIMS]
    assert set(card["verdict"]) == {"no verdict (smoke scale)"}
    assert (card["seeds"] != "").all()  # every claim finds its rows in the smoke results
    search = card.set_index("claim").loc["search-beats-uniform"]
    reference = pd.read_csv(REFERENCE, dtype={"timestep": str}, keep_default_na=False)
    sec53 = reference[(reference["table"] == "sec5.3") & (reference["metric"] == "top1_acc")].set_index("timestep")
    uniform = [t for t in sec53.index if len(set(t.split("-"))) == 1]
    assert search["paper_effect"] == pytest.approx(float(sec53.drop(uniform)["value"].iloc[0])
                                                   - float(sec53.loc[uniform[0], "value"]))
    # figures print no values and Table 6 has no T=6 row: no paper effect, and a note says why
    for claim_id in ("finer-granularity-helps", "beyond-T-max"):
        assert math.isnan(card.set_index("claim").loc[claim_id, "paper_effect"])
        assert card.set_index("claim").loc[claim_id, "paper_note"]


def test_the_labels_the_claims_read_are_the_papers():
    # a table's labels are the method names of reference_values.csv, where the paper has rows
    for c in claims.CLAIMS:
        for source, label in c.reads:
            paper = read_reference(REFERENCE, source)
            if len(paper):
                cited = claims.CITED.get(source)
                assert label in set(paper["method"]) | {cited}, (c.id, source, label)


def test_six_headline_claims_are_pre_registered():
    text = open("workflow/reference/preregistration.md").read()
    registered = text.split("## The six headline claims")[1].split("\n## ")[0]
    assert re.findall(r"^\| `([A-Za-z0-9-]+)` \|", registered, flags=re.M) == claims.HEADLINE
    exploratory = text.split("## Exploratory claims")[1]
    assert set(re.findall(r"`([A-Za-z0-9-]+)`", exploratory)) == {c.id for c in claims.CLAIMS if not c.headline}


def test_analysis_rows_find_their_records_by_their_record_column(tmp_path):
    # Table 12 of 3 MTT models with analysis records: T_max statistics right on items 0-2 of 4,
    # recalculated ones on items 0-1 (seed k: item 3 too where k == 1)
    rows = []
    for k in range(3):
        t_max, recalculated = [1, 1, 1, float(k == 1)], [1, 1, 0, float(k == 1)]
        write_records({"row": np.array([0, 1]), "item": np.array([5, 6, 7, 8]),
                       "correct": np.array([t_max, recalculated], dtype=np.float32)},
                      tmp_path / f"bn_statistics-{k}.npz", config_hash=f"mtt-{k}", analysis="bn_statistics")
        rows += [{"table": "table12", "dataset": "cifar100", "dataset_used": "cifar10", "method": method,
                  "timestep": "2", "metric": "top1_acc", "value": accuracy(c), "seed": k, "config_hash": f"mtt-{k}",
                  "record": f"bn_statistics-{k}:{i}", "data_stand_in": "", **provenance()}
                 for i, (method, c) in enumerate([("MTT (T=Tmax BN stats)", t_max),
                                                  ("MTT (recalculated BN stats)", recalculated)])]
    write(tmp_path, "table12.csv", rows)
    records = claims.item_records(sorted(tmp_path.glob("*.npz")))
    models = models_frame({f"mtt-{k}": 50.0 for k in range(3)})
    card = claims.scorecard(tmp_path, [claim("t-max-statistics-serve")], models=models, records=records).iloc[0]
    assert card["test"] == "seeds x 4 test items (per-item records)" and card["effect"] == pytest.approx(25.0)
    expected = statistics.contrast([statistics.Group(np.tile([0.0, 0.0, 100.0, 0.0], (3, 1)))])
    assert card["se"] == pytest.approx(expected.se)


def test_headline_figure_draws_every_headline_claim_even_without_an_interval(tmp_path):
    import matplotlib.image

    card = claims.scorecard(tmp_path, [c for c in claims.CLAIMS if c.headline], reference=REFERENCE,
                            not_run={s: "not here" for c in claims.CLAIMS for s in c.sources})
    claims.headline_figure(card, tmp_path / "h.pdf", tmp_path / "h.png")
    height, width, _ = matplotlib.image.imread(tmp_path / "h.png").shape
    assert height > width  # one panel per claim, stacked
    assert (tmp_path / "h.pdf").read_bytes().startswith(b"%PDF")
