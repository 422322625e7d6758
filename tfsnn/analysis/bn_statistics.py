"""BN statistics from T_max against statistics recalculated at each T (A.7, Table 12).

At a uniform ``T`` the model is tested with its own BN statistics (calibrated at ``T_max``
after training) and with statistics recalibrated at that ``T``: the mean over ``repeats`` (3)
calibrations, each on its own training batches (:func:`~tfsnn.analysis.estimation.measured_accuracy`).
"""

from __future__ import annotations

from collections.abc import Sequence

from tfsnn.analysis.estimation import measured_accuracy
from tfsnn.analysis.registry import register
from tfsnn.evaluate import accuracy
from tfsnn.options import TimeStep

__all__ = ["bn_statistics_analysis"]


@register("bn_statistics")
def bn_statistics_analysis(trained, *, T: Sequence[TimeStep] = (2, 3, 4, 5), repeats: int = 3,
                           seed: int = 0) -> list[dict]:
    """Rows: metric top1_acc, value, T, statistics ("T_max" or "recalculated"), calibrations, and
    each test item's ``correct`` (its share of the calibrations under which it is right)."""
    model, device = trained.model, trained.device
    test = trained.test_loader()
    rows = []
    for t in T:
        t_max_statistics = accuracy(model, test, t, device, trained.analysis_precision)
        rows.append({"metric": "top1_acc", "value": t_max_statistics["accuracy"], "T": t, "statistics": "T_max",
                     "calibrations": 0, "correct": t_max_statistics["correct"]})
        recalculated = measured_accuracy(model, test, trained.train_loader(seed=seed), t, repeats,
                                         trained.calibration_batches, device, trained.analysis_precision)
        rows.append({"metric": "top1_acc", "value": recalculated["accuracy"], "T": t, "statistics": "recalculated",
                     "calibrations": repeats, "correct": recalculated["correct"]})
    return rows
