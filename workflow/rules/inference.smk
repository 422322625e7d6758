# Tables 5-7: what a trained model does at inference. Table 5: early exit (SEENN-I: exit at the
# first step whose confidence passes a threshold) of an SDT and an MTT ResNet-19 on CIFAR-10,
# read at the paper's average time steps along the threshold curve. Table 6: an MTT ResNet-18
# (T_max=6) on CIFAR-100 tested at T=1..64. Table 7: N-MNIST, SDT and MTT, clock-driven against
# an event-driven simulation (not a chip: see tfsnn.analysis.event_driven).


def early_exit_part(method, training, **options):
    name = run("cifar10", "cifar-resnet19", training, seed=0, **options)
    return tables.part(analysis_of(name, "early_exit"), method, "cifar10", stand_in_note("cifar10"),
                       select={"metric": "top1_acc"}, value="value",
                       interpolate={"along": "avg_timesteps", "key": "threshold", "at": [1.20, 1.09]})


table(
    "table5",
    "Table 5: early exit (SEENN-I) of SDT and MTT models, accuracy at an average T",
    [early_exit_part("SEENN-I", "sdt", T=6), early_exit_part("SEENN-I+MTT", "mtt", t_min=1, t_max=6, samples=3)],
)

BEYOND_T = [1, 2, 4, 6, 8, 16, 32, 64]
table(
    "table6",
    "Table 6: an MTT model trained with T_max=6 tested beyond it (conversion rows: the paper's)",
    [evaluation_part("MTT", "cifar100", "cifar-resnet18", "mtt", BEYOND_T, t_min=1, t_max=6, samples=3)],
)


# the N-MNIST models exported to NIR, for a neuromorphic chip's toolchain (e.g. sinabs.from_nir)
NIR_EXPORTS = []


def event_part(method, training, **options):
    name = run("nmnist", "nmnist-resnet18", training, seed=0, **options)
    NIR_EXPORTS.append(f"results/{SCALE_NAME}/nir/{name}.nir")
    return tables.part(analysis_of(name, "event_driven"), method, "nmnist", stand_in_note("nmnist"),
                       select={"metric": "top1_acc"}, value="value", timestep="platform",
                       timestep_map={"clock": "gpu", "event": "speck2e"})


table(
    "table7",
    "Table 7: N-MNIST, clock-driven ('gpu') against event-driven simulation (paper: Speck2e chip)",
    [event_part("SDT", "sdt", T=10), event_part("MTT", "mtt", t_min=1, t_max=10, samples=3)],
)
