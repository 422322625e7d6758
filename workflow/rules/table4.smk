# Table 4: temporal flexibility. One MTT model per dataset (s=3, T_min=1), tested at uniform T:
# ResNet-19 on CIFAR-10/100 and ResNet-34 on ImageNet (T_max=6, tested at T=2..6), ResNet-18 on
# CIFAR10-DVS and N-Caltech101 (T_max=10 frames, tested at T=2,4,6,8,10). Tables 2 and 3
# (comparisons with the literature) take their MTT rows from the same tests.

STATIC_T = [2, 3, 4, 5, 6]
DVS_T = [2, 4, 6, 8, 10]
FLEXIBILITY = [
    ("cifar10", "cifar-resnet19", STATIC_T),
    ("cifar100", "cifar-resnet19", STATIC_T),
    ("imagenet", "imagenet-resnet34", STATIC_T),
    ("cifar10dvs", "dvs-resnet18", DVS_T),
    ("ncaltech101", "dvs-resnet18", DVS_T),
]


def mtt_part(dataset, family, Ts, rows_T=None, seed=0):
    return evaluation_part(labels.MTT, dataset, family, "mtt", Ts, rows_T, seed, t_min=1, t_max=max(Ts), samples=3)


table(
    "table4",
    "Table 4: top-1 accuracy (%) of one MTT model at each uniform T",
    [mtt_part(dataset, family, Ts, seed=seed) for seed in seeds() for dataset, family, Ts in FLEXIBILITY],
)
table(
    "table2",
    "Table 2: MTT against directly trained SNNs of the literature (their rows: the paper's)",
    [mtt_part(dataset, family, Ts, [6, 4, 2], seed) for seed in seeds() for dataset, family, Ts in FLEXIBILITY[:3]],
)
table(
    "table3",
    "Table 3: MTT on neuromorphic datasets against the literature (their rows: the paper's)",
    [mtt_part(dataset, family, Ts, [10], seed) for seed in seeds() for dataset, family, Ts in FLEXIBILITY[3:]],
)


# The README's figure (Tables 1 and 4 in one plot): accuracy against T of SDT* (a model trained
# at each T, tested at its own T), of SDT trained at T=6 and of one MTT model, over seeds
def r19(training, seed, **options):
    return run("cifar100", "cifar-resnet19", training, seed=seed, **options)


figure(
    "flexibility",
    {
        labels.SDT_STAR: [evaluation_of(r19("sdt", seed, T=t), [t]) for seed in seeds() for t in TABLE1_T],
        labels.SDT: [evaluation_of(r19("sdt", seed, T=6), TABLE1_T) for seed in seeds()],
        labels.MTT: [evaluation_of(r19("mtt", seed, t_min=1, t_max=6, samples=3), STATIC_T) for seed in seeds()],
    },
    kind="flexibility",
)
