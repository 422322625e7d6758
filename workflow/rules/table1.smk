# Table 1: CIFAR-100, ResNet-19: SDT trained at T=6 and tested at T=2..6, SDT* (one model
# trained per T) and NMT (s=3, T in 1..6), tested at T=2..6; every seed the scale gives Table 1.

TABLE1_T = [2, 3, 4, 5, 6]


def table1_part(method, training, rows_T=None, seed=0, **options):
    # every model is tested at all of TABLE1_T (the test of SDT T=6 serves SDT and SDT*)
    return evaluation_part(method, "cifar100", "cifar-resnet19", training, TABLE1_T, rows_T, seed, **options)


table(
    "table1",
    "Table 1: top-1 accuracy (%) of SDT, SDT* and NMT",
    [
        part
        for seed in seeds("table1")
        for part in [
            table1_part(labels.SDT, "sdt", seed=seed, T=6),
            *(table1_part(labels.SDT_STAR, "sdt", [t], seed, T=t) for t in TABLE1_T),
            table1_part(labels.NMT, "nmt", seed=seed, t_min=1, t_max=6, samples=3),
        ]
    ],
)
