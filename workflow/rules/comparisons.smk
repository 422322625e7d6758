# Tables 8 and 9: MTT against SDT on deep B-ResNets (CIFAR-10, T=4, 100 epochs) and VGG14 on
# CIFAR-100 (T_max=5, s=3, the paper: mean of 3 runs; ours: over the scale's seeds).

table(
    "table8",
    "Table 8: SDT and MTT on B-ResNet-50/72, CIFAR-10, T=4",
    [
        part
        for seed in seeds()
        for architecture in labels.DEEP_ARCHITECTURES
        for part in [
            evaluation_part(labels.on_architecture(labels.SDT, architecture), "cifar10", "cifar-bresnet",
                            "sdt", [4], seed=seed, model={"name": architecture}, T=4),
            evaluation_part(labels.on_architecture(labels.MTT, architecture), "cifar10", "cifar-bresnet",
                            "mtt", [4], seed=seed, model={"name": architecture}, t_min=1, t_max=4, samples=3),
        ]
    ],
)

table(
    "table9",
    "Table 9: VGG14 trained by MTT (T_max=5, s=3) on CIFAR-100",
    [
        evaluation_part(labels.MTT, "cifar100", "cifar-vgg14", "mtt", [2, 3, 4, 5], seed=seed, t_min=1, t_max=5,
                        samples=3)
        for seed in seeds()
    ],
)
