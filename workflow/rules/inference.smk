# Tables 5-7: what a trained model does at inference. Table 5: early exit (SEENN-I: exit at the
# first step whose confidence passes a threshold) of a TET (the SEENN-I row's training, Li et al.
# 2023b) and an MTT ResNet-19 on CIFAR-10, read at the paper's average time steps along the
# threshold curve (NaN with a note where the curve does not reach them). Table 6: an MTT ResNet-18
# (T_max=6) on CIFAR-100 tested at T=1..64. Table 7: N-MNIST, SDT and MTT, clock-driven against
# an event-driven simulation (not a chip: see tfsnn.analysis.event_driven).


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
     for seed in analysis_seeds()],
)


# the N-MNIST models exported to NIR, for a neuromorphic chip's toolchain (e.g. sinabs.from_nir)
NIR_EXPORTS = []


def event_part(method, training, seed=0, **options):
    name = run("nmnist", "nmnist-resnet18", training, seed=seed, **options)
    NIR_EXPORTS.append(f"results/{SCALE_NAME}/nir/{name}.nir")
    return tables.part(analysis_of(name, "event_driven"), method, "nmnist", stand_in_note("nmnist"),
                       select={"metric": "top1_acc"}, value="value", timestep="platform",
                       timestep_map={"clock": labels.CLOCK, "event": labels.EVENT})


table(
    "table7",
    "Table 7: N-MNIST, clock-driven ('gpu') against event-driven simulation (paper: Speck2e chip)",
    [
        part
        for seed in analysis_seeds()
        for part in [event_part(labels.SDT, "sdt", seed, T=10),
                     event_part(labels.MTT, "mtt", seed, t_min=1, t_max=10, samples=3)]
    ],
)
