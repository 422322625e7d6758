"""Every experiment label the DAG writes into its tables and figures, and the claims read back.

A table row's ``method`` and a figure's ``curve`` are these strings; the rules files
(``workflow/rules/*.smk``) register their parts and curves with them and
:mod:`tfsnn.report.claims` selects rows by them, so a rename here renames both. The table
labels are also the ``method`` names of ``reference_values.csv`` (the paper's rows are matched
to ours on them). The scorecard rule checks, when the workflow is parsed, that every label a
claim reads is one its sources are made with (``workflow/rules/scorecard.smk``).
"""

from __future__ import annotations

__all__ = [
    "CLOCK",
    "DEEP_ARCHITECTURES",
    "EVENT",
    "GRANULARITIES",
    "MTT",
    "MTT_RECALCULATED_BN",
    "MTT_TMAX_BN",
    "NMT",
    "SDT",
    "SDT_STAR",
    "SEENN",
    "SEENN_MTT",
    "granularity",
    "on_architecture",
    "sampling_number",
]

# training methods (Tables 1-4, 6-9, 13-16; Figs. 5, 6, 7A, 7C, 9)
SDT = "SDT"  # standard direct training at one T (Table 1: the T=6 model tested at every T)
SDT_STAR = "SDT*"  # Table 1: one SDT model trained at each T, tested at its own T
NMT = "NMT"  # naive mixture training
MTT = "MTT"  # mixed time-step training (the paper's method)

# Table 5: early exit on a model of the baseline and on an MTT model
SEENN = "SEENN-I"
SEENN_MTT = "SEENN-I+MTT"

# Table 12: the BN statistics an MTT model is tested with
MTT_TMAX_BN = "MTT (T=Tmax BN stats)"
MTT_RECALCULATED_BN = "MTT (recalculated BN stats)"

# Table 7: the platform a model runs on (its ``timestep`` column, as in the paper)
CLOCK = "gpu"  # clock-driven, T time steps
EVENT = "speck2e"  # event-driven (the paper: the Speck2e chip; ours: a simulation)

# Fig. 7B: granularity g (blocks per stage) of ResNet-18's 8 blocks: g=1 is MTT, g=8 is NMT
GRANULARITIES = (1, 2, 4, 8)


def on_architecture(method: str, architecture: str) -> str:
    """Table 8: one method on several architectures, e.g. ``SDT (b-resnet50)``."""
    return f"{method} ({architecture})"


def granularity(g: int) -> str:
    """Fig. 7B: the curve of the MTT model of granularity ``g``, e.g. ``g=1``."""
    return f"g={g}"


def sampling_number(s: int) -> str:
    """Table 11: the curve of the MTT model trained with ``s`` samples per batch, e.g. ``s=3``."""
    return f"s={s}"

# Table 8: the deep networks SDT and MTT are trained on (labelled with on_architecture)
DEEP_ARCHITECTURES = ("b-resnet50", "b-resnet72")
