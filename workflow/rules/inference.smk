# Tables 5-7: what a trained model does at inference. Table 5: early exit (SEENN-I: exit at the
# first step whose confidence passes a threshold) of a TET (the SEENN-I row's training, Li et al.
# 2023b) and an MTT ResNet-19 on CIFAR-10, read at the paper's average time steps along the
# threshold curve (NaN with a note where the curve does not reach them). Table 6: an MTT ResNet-18
# (T_max=6) on CIFAR-100 tested at T=1..64. Table 7: N-MNIST, SDT and MTT models of Speck's
# neuron, clock-driven in tfsnn against event-driven in sinabs's simulation (not a chip: see
# tfsnn.analysis.speck).


def early_exit_part(method, training, seed=0, **options):
    name = run("cifar10", "cifar-resnet19", training, seed=seed, **options)
    return tables.part(analysis_of(name, "early_exit"), method, "cifar10", stand_in_note("cifar10"),
                       select={"metric": "top1_acc"}, value="value",
                       interpolate={"along": "avg_timesteps", "key": "threshold", "at": [1.20, 1.09]})


table(
    "table5",
    "Table 5: early exit (SEENN-I) of TET and MTT models, accuracy at an average T",
    [
        part
        for seed in analysis_seeds()
        for part in [early_exit_part(labels.SEENN, "tet", seed, T=6),
                     early_exit_part(labels.SEENN_MTT, "mtt", seed, t_min=1, t_max=6, samples=3)]
    ],
)

BEYOND_T = [1, 2, 4, 6, 8, 16, 32, 64]
table(
    "table6",
    "Table 6: an MTT model trained with T_max=6 tested beyond it (conversion rows: the paper's)",
    [evaluation_part(labels.MTT, "cifar100", "cifar-resnet18", "mtt", BEYOND_T, seed=seed, t_min=1, t_max=6, samples=3)
     for seed in seeds()],
)


# the N-MNIST models exported to NIR, for a neuromorphic chip's toolchain (e.g. sinabs.from_nir)
NIR_EXPORTS = []

# Table 7 the authors' way (tfsnn.analysis.speck; their train-event-driven/ code): SDT and MTT
# trained with Speck's neuron (sinabs's IAF: no leak, subtractive reset, several spikes per step),
# then BN folded, biases removed and the bias-free network fine-tuned by the same method; "gpu":
# that network clock-driven in tfsnn on the T training frames; "speck2e": the same weights
# exported to NIR, read by sinabs.from_nir and run event-driven in sinabs on fine time bins of the
# raw test events (sinabs's simulation, not the chip). Beside them: the trained model before bias
# removal, the agreement of the two predictions (recordings with equal ones), and sinabs at the T
# frames (equal binning: tfsnn's spikes exactly, so 100 %). The analysis CSV also holds the other
# readouts, the fine-tune's loss and Speck's memory check (its verdict is the table's note).
# The LIF event-driven analysis (tfsnn.analysis.event_driven: the paper's LIF models without a
# clock, the leak converted to fine bins) answers another question, how the paper's own neuron
# fares without time steps; it is not a deployment, so it is no longer part of this table.
IAF = {"neuron": {"kind": "iaf"}}
SPECK_ROWS = {"metric": ["top1_acc", "agreement"],
              "platform": ["trained", "clock", "event", "clock-vs-event", "clock-vs-sinabs-frames"]}
SPECK_TIMESTEPS = {"clock": labels.CLOCK, "event": labels.EVENT, "trained": f"{labels.CLOCK} (trained, with biases)",
                   "clock-vs-event": f"{labels.CLOCK} vs {labels.EVENT}",
                   "clock-vs-sinabs-frames": f"{labels.CLOCK} vs sinabs at T"}


def speck_part(method, training, seed=0, **options):
    name = run("nmnist", "nmnist-resnet18", training, seed=seed, model=IAF, **options)
    NIR_EXPORTS.append(f"results/{SCALE_NAME}/nir/{name}.nir")
    return tables.part(analysis_of(name, "speck"), method, "nmnist", stand_in_note("nmnist"), select=SPECK_ROWS,
                       metric=None, value="value", timestep="platform", timestep_map=SPECK_TIMESTEPS)


table(
    "table7",
    "Table 7: N-MNIST, IAF models with biases removed and fine-tuned: clock-driven ('gpu', tfsnn) against "
    "event-driven (sinabs's simulation; paper: Speck2e chip)",
    [
        part
        for seed in analysis_seeds()
        for part in [speck_part(labels.SDT, "sdt", seed, T=10),
                     speck_part(labels.MTT, "mtt", seed, t_min=1, t_max=10, samples=3)]
    ],
)
