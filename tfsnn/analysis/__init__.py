"""The paper's analyses of a trained TFSNN, each a function of a :class:`tfsnn.experiment.Trained`
registered by name (:mod:`tfsnn.analysis.registry`) for ``tfsnn analyze``:

``estimation`` (4.3.3, 5.3, A.3, A.9: accuracy model, firing-rate energy, search), ``noise``
(Fig. 5, 6), ``landscape`` (Fig. 9), ``gradients`` (Table 13, 4.2), ``early_exit`` (Table 5),
``speck`` (Table 7: the IAF model, biases removed and fine-tuned, event-driven in sinabs, and
Speck's memory check), ``event_driven`` (the LIF model without a clock, in fine time bins),
``bn_statistics`` (Table 12); and :func:`export_nir` (a network for neuromorphic toolchains).
"""

from tfsnn.analysis.registry import ANALYSES, analysis_options, reads_test_set, register, run_analysis  # isort: skip (first)
from tfsnn.analysis import (  # noqa: F401
    bn_statistics, early_exit, energy, estimation, event_driven, gradients, landscape, noise, speck,
)
from tfsnn.analysis.nir_export import export_nir, export_trained_nir, run_nir

__all__ = ["ANALYSES", "analysis_options", "reads_test_set", "register", "run_analysis", "export_nir",
           "export_trained_nir", "run_nir"]
