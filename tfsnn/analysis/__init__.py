"""The paper's analyses of a trained TFSNN, each a function of a :class:`tfsnn.experiment.Trained`
registered by name (:mod:`tfsnn.analysis.registry`) for ``tfsnn analyze``."""

from tfsnn.analysis.registry import ANALYSES, register, run_analysis

__all__ = ["ANALYSES", "register", "run_analysis"]
