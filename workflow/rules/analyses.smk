# The analyses of the paper, most on a ResNet-18 trained on CIFAR-100 by SDT (T=6) and by MTT
# (T_max=6, s=3), the models of sections 4.2, 5.3 and A.9-A.11:
#   sec4.2 / table13  gradient cosine similarity (T=3 vs 6) and gradient norms
#   fig5 / fig6       Gaussian noise on the weights / inputs (5 repeats per sigma^2)
#   fig9              1D loss landscapes (same filter-normalized direction scheme for both)
#   sec5.3 / fig7A    accuracy estimation and the energy-bounded search (appA.9 / fig8: CIFAR-10)
#   fig7B             granularity g = 1, 2, 4, 8 and SDT, tested at T = 2..6
#   fig7C             test accuracy along training with and without BN calibration
#   table11           sampling number s = 1..4 against epochs (garbled in the paper: ours only)
#   table12           T_max BN statistics against statistics recalculated at each T (ResNet-19)


def resnet18(dataset, training, **options):
    return run(dataset, "cifar-resnet18", training, **options)


R18_SDT = resnet18("cifar100", "sdt", T=6)
R18_MTT = resnet18("cifar100", "mtt", t_min=1, t_max=6, samples=3)
STAND_IN = stand_in_note("cifar100")


def analysis_part(method, name, analysis, dataset="cifar100", metrics=None, timestep=None, **select):
    """A table part of the rows of ``analysis`` on run ``name`` (metrics kept as they are)."""
    if metrics:
        select["metric"] = metrics
    return tables.part(analysis_of(name, analysis), method, dataset, stand_in_note(dataset), select=select,
                       timestep=timestep, metric=None, value="value")


table(
    "table13",
    "Table 13: gradient norms of SDT and MTT models (ResNet-18, CIFAR-100)",
    [analysis_part(label, name, "gradients", metrics=["weight_grad_norm", "input_grad_norm"])
     for label, name in [("MTT", R18_MTT), ("SDT", R18_SDT)]],
)
table(
    "sec4.2",
    "Section 4.2: cosine similarity of the gradients at T=3 and T=6 (SDT model)",
    [analysis_part("SDT", R18_SDT, "gradients", metrics=["grad_cosine_similarity"], timestep="compare_T")],
)
for name, target in [("fig5", "weights"), ("fig6", "inputs")]:
    figure(name, {label: analysis_of(run_name, "noise", target=target)
                  for label, run_name in [("SDT", R18_SDT), ("MTT", R18_MTT)]}, kind="noise", target=target)
figure("fig9", {label: analysis_of(run_name, "landscape") for label, run_name in [("SDT", R18_SDT), ("MTT", R18_MTT)]},
       kind="landscape")

# accuracy estimation and search: CIFAR-100 (section 5.3, Fig. 7A) and CIFAR-10 (A.9, Fig. 8)
for section, fig, dataset in [("sec5.3", "fig7A", "cifar100"), ("appA.9", "fig8", "cifar10")]:
    mtt = resnet18(dataset, "mtt", t_min=1, t_max=6, samples=3)
    table(
        section,
        f"{section}: fitted accuracy model and the best configuration under the energy of uniform T=3 ({dataset})",
        [
            analysis_part("MTT", mtt, "estimation", dataset, metrics=[f"fitted_K_{i}" for i in range(1, 9)] + ["fitted_c"]),
            analysis_part("MTT", mtt, "estimation", dataset, metrics=["top1_acc"], timestep="config",
                          split=["search", "uniform"]),
        ],
    )
    figure(fig, {"MTT": analysis_of(mtt, "estimation")}, kind="estimation", dataset=dataset)

figure(
    "fig7B",
    {
        **{f"g={g}": evaluation_of(resnet18("cifar100", "mtt", model={"granularity": g}, t_min=1, t_max=6, samples=3),
                                   [2, 3, 4, 5, 6])
           for g in [1, 2, 4, 8]},
        "SDT": evaluation_of(R18_SDT, [2, 3, 4, 5, 6]),
    },
    kind="granularity",
)
figure("fig7C", {"MTT": metrics_of(R18_MTT)}, kind="bn_curves")
figure("table11", {f"s={s}": metrics_of(resnet18("cifar100", "mtt", t_min=1, t_max=6, samples=s)) for s in range(1, 5)},
       kind="sampling_number")

R19_MTT = run("cifar100", "cifar-resnet19", "mtt", t_min=1, t_max=6, samples=3)
table(
    "table12",
    "Table 12: MTT ResNet-19 on CIFAR-100 with T_max BN statistics and with statistics recalculated per T",
    [
        tables.part(analysis_of(R19_MTT, "bn_statistics"), label, "cifar100", STAND_IN,
                    select={"statistics": statistics}, metric=None, value="value")
        for label, statistics in [("MTT (T=Tmax BN stats)", "T_max"), ("MTT (recalculated BN stats)", "recalculated")]
    ],
)
