import copy
import math

import pytest
import torch

from tfsnn.analysis import run_analysis
from tfsnn.analysis.energy import energy
from tfsnn.analysis.estimation import AccuracyModel, fit_accuracy_model, measured_accuracy, sample_configs
from tfsnn.bn import batchnorms, calibrate
from tfsnn.evaluate import accuracy


def test_sample_configs_seeded_and_in_bounds():
    configs = sample_configs(8, 200, 2, 5, torch.Generator().manual_seed(3))
    assert configs == sample_configs(8, 200, 2, 5, torch.Generator().manual_seed(3))
    assert all(len(c) == 8 for c in configs)
    assert {t for c in configs for t in c} == {2, 3, 4, 5}
    assert len({tuple(c) for c in configs}) > 190  # per-stage draws, not one shared T


def test_predict_hand_computed():
    model = AccuracyModel((1.0, 2.0), 3.0)
    assert model.predict((4, 2)) == pytest.approx(math.sqrt(2) + 2 + 3)
    assert model.predict("1-1") == 3.0  # sqrt(log2 1) = 0
    assert model.predict([(4, 2), 1]) == pytest.approx([math.sqrt(2) + 5, 3.0])


@pytest.mark.parametrize("stages", [3, 8])
def test_fit_recovers_planted_model(stages):
    generator = torch.Generator().manual_seed(stages)
    K = (torch.randn(stages, generator=generator) * 2).tolist()  # negative ones included
    planted = AccuracyModel(tuple(K), 61.5)
    configs = sample_configs(stages, 3 * stages, 1, 6, generator)
    fitted = fit_accuracy_model(configs, planted.predict(configs))
    assert fitted.K == pytest.approx(planted.K, abs=1e-6)
    assert fitted.c == pytest.approx(planted.c, abs=1e-6)


def test_fit_rejects_underdetermined_systems():
    with pytest.raises(ValueError, match="needs at least 4 configurations, got 3"):
        fit_accuracy_model([(1, 2, 3), (2, 2, 2), (3, 1, 2)], [1.0, 2.0, 3.0])
    never_varied = [(1, t, u) for t in range(1, 4) for u in range(1, 4)]  # stage 1 stays at t=1
    with pytest.raises(ValueError, match="do not determine"):
        fit_accuracy_model(never_varied, [float(i) for i in range(9)])


def _bn_buffers(model):
    return [{k: v.clone() for k, v in bn.state_dict().items()} for bn in batchnorms(model)]


class _LoggedBatches:
    """A two-batch loader that logs which batch each calibration pass takes."""

    def __init__(self, batches):
        self.batches, self.log = batches, []

    def __iter__(self):
        for i, batch in enumerate(self.batches):
            self.log.append(i)
            yield batch


def test_measured_accuracy_restores_bn_and_averages_calibrations(tiny_trained):
    model, test = tiny_trained.model, tiny_trained.test_loader()
    batches = list(tiny_trained.train_loader(shuffle=False))[:2]
    before = _bn_buffers(model)
    config = (4, 1, 2, 3, 4, 2, 1, 3)
    logged = _LoggedBatches(batches)
    measured_accuracy(model, test, logged, config, repeats=3, calibration_batches=1, device="cpu")
    assert logged.log == [0, 1, 0]  # each calibration on the next batch, the loader cycled
    assert all(torch.equal(a[k], b[k]) for a, b in zip(before, _bn_buffers(model)) for k in a)
    got = measured_accuracy(model, test, batches, config, repeats=2, calibration_batches=1, device="cpu")
    expected = []
    for batch in batches:  # calibration r on the r-th batch
        reference = copy.deepcopy(model)
        calibrate(reference, [batch], config, 1, "cpu")
        expected.append(accuracy(reference, test, config, "cpu"))
    assert got["accuracy"] == pytest.approx(sum(e["accuracy"] for e in expected) / 2, abs=1e-9)
    # each item's share of the calibrations under which it is right
    assert got["correct"].tolist() == pytest.approx(((expected[0]["correct"] + expected[1]["correct"]) / 2).tolist())
    assert 100 * got["correct"].mean() == pytest.approx(got["accuracy"])
    with pytest.raises(ValueError, match="repeats"):
        measured_accuracy(model, test, batches, config, repeats=0)


def test_estimation_analysis_rows(tiny_trained):
    state = {k: v.clone() for k, v in tiny_trained.model.state_dict().items()}
    options = {"n_fit": 9, "n_validate": 3, "repeats": 1, "rates_T": 2, "budget_T": 2}
    frame = run_analysis("estimation", tiny_trained, options)
    assert all(torch.equal(state[k], v) for k, v in tiny_trained.model.state_dict().items())
    assert set(frame["analysis"]) == {"estimation"}

    per_config = frame[frame["split"].isin(["fit", "validate"]) & frame["metric"].isin(["top1_acc", "predicted_acc"])]
    assert per_config.groupby(["split", "metric"]).size().to_dict() == {
        ("fit", "predicted_acc"): 9, ("fit", "top1_acc"): 9,
        ("validate", "predicted_acc"): 3, ("validate", "top1_acc"): 3}
    value = dict(zip(frame["metric"], frame["value"]))
    fitted = AccuracyModel(tuple(value[f"fitted_K_{i}"] for i in range(1, 9)), value["fitted_c"])
    for row in per_config[per_config["metric"] == "predicted_acc"].itertuples():
        assert row.value == pytest.approx(fitted.predict(row.config))
    fit = per_config[per_config["split"] == "fit"]
    measured = fit[fit["metric"] == "top1_acc"].set_index("config")["value"]
    refit = fit_accuracy_model(list(measured.index), list(measured))  # the K and c reported are the least-squares fit
    assert refit.K == pytest.approx(fitted.K) and refit.c == pytest.approx(fitted.c)
    assert {"pearson_r", "mae", "rmse"} <= set(frame[frame["split"] == "validate"]["metric"])
    assert 0 <= value["rmse"] and value["mae"] <= value["rmse"]

    rates = frame[frame["metric"] == "firing_rate"].sort_values("block")
    assert list(rates["block"]) == list(range(1, 9)) and set(rates["T"]) == {2}
    assert ((rates["value"] >= 0) & (rates["value"] <= 1)).all()
    searched = frame[frame["split"] == "search"].set_index("metric")
    uniform = frame[frame["split"] == "uniform"].set_index("metric")
    assert set(uniform["config"]) == {"2-2-2-2-2-2-2-2"} and len(set(searched["config"])) == 1
    config = searched["config"].iloc[0]
    assert all(1 <= int(t) <= 4 for t in config.split("-"))  # t_max defaults to the method's (4)
    assert searched.loc["energy", "value"] == pytest.approx(energy(config, list(rates["value"]), 1))
    assert uniform.loc["energy", "value"] == pytest.approx(energy(2, list(rates["value"]), 1))
    assert searched.loc["energy", "value"] <= uniform.loc["energy", "value"]
    assert searched.loc["predicted_acc", "value"] >= uniform.loc["predicted_acc", "value"]
    assert 0 <= searched.loc["top1_acc", "value"] <= 100 and 0 <= uniform.loc["top1_acc", "value"] <= 100
