"""Table 12's analysis: T_max statistics against statistics recalculated at each T."""

import copy
import dataclasses

import pytest
import torch

from tfsnn.analysis import run_analysis
from tfsnn.bn import batchnorms, calibrate
from tfsnn.evaluate import accuracy


def test_rows_are_the_checkpoint_accuracy_and_the_recalibrated_one(tiny_trained):
    # statistics far off the truth, so recalculating them changes the outputs
    model = copy.deepcopy(tiny_trained.model)
    for bn in batchnorms(model):
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(0.01)
    trained = dataclasses.replace(tiny_trained, model=model)
    before = copy.deepcopy(model.state_dict())
    rows = run_analysis("bn_statistics", trained, {"T": [2, 3], "repeats": 1})
    by = {(r.T, r.statistics): r.value for r in rows.itertuples()}
    test = trained.test_loader()
    x = next(iter(test))[0]
    for t in (2, 3):
        # exact: the analysis runs this very accuracy() on the same batches, so on any one machine
        # the two are one computation twice (deterministic on a CPU stack)
        assert by[(t, "T_max")] == accuracy(model, test, t, "cpu")["accuracy"]
        # by hand: calibrate a copy at t on the batches the analysis uses, then test
        twin = copy.deepcopy(model)
        calibrate(twin, trained.train_loader(seed=0), t, trained.calibration_batches, "cpu")
        assert by[(t, "recalculated")] == pytest.approx(accuracy(twin, test, t, "cpu")["accuracy"])
        with torch.no_grad():
            assert not torch.allclose(twin(x, t), model(x, t))  # the two statistics really differ
    after = model.state_dict()
    assert all((before[k] == after[k]).all() for k in before)  # the model's statistics are restored
    assert set(rows["calibrations"]) == {0, 1}
