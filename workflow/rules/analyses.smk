# The analyses of the paper, most on a ResNet-18 trained on CIFAR-100 by SDT (T=6) and by MTT
# (T_max=6, s=3), the models of sections 4.2, 5.3 and A.9-A.11:
#   sec4.2            gradient cosine similarity (T=3 vs 6) along training, of NMT and SDT
#   table13           gradient norms of the trained models (both readings of "the loss")
#   fig5 / fig6       Gaussian noise on the weights / inputs (5 repeats per sigma^2)
#   fig9              1D loss landscapes (same filter-normalized direction scheme for both)
#   sec5.3 / fig7A    accuracy estimation and the energy-bounded search (appA.9 / fig8: CIFAR-10)
#   fig7B             granularity g = 1, 2, 4, 8 and SDT, tested at T = 2..6
#   fig7C             test accuracy along training with and without BN calibration
#   table11           sampling number s at fixed budgets e x s, each cell its own run (ours only)
#   table12           T_max BN statistics against statistics recalculated at each T (ResNet-19)


def resnet18(dataset, training, **options):
    return run(dataset, "cifar-resnet18", training, **options)


# Section 4.2 measures the gradients during training: the NMT and SDT runs keep their states at
# the start, after the first epoch and at each quarter of training (not the converged end, whose
# full-data gradient is near zero), for the gradient_cosine analysis
R18_EPOCHS = SCALE["experiments"]["cifar-resnet18"]["train"]["epochs"] if runs_here("cifar-resnet18") else 0
COSINE_EPOCHS = sorted({0, 1, *(R18_EPOCHS * k // 4 for k in (1, 2, 3))})


def r18_sdt(seed=0):
    return resnet18("cifar100", "sdt", seed=seed, train={"save_epochs": COSINE_EPOCHS}, T=6)


def r18_nmt(seed=0):
    return resnet18("cifar100", "nmt", seed=seed, train={"save_epochs": COSINE_EPOCHS}, t_min=1, t_max=6, samples=3)


def r18_mtt(seed=0):
    return resnet18("cifar100", "mtt", seed=seed, t_min=1, t_max=6, samples=3)


# the experiments behind the exploratory claims run on each of these seeds (a figure: one curve per
# label, over seeds); Tables 12 and 13, behind headline claims, on every seed of seeds()
SEEDS = analysis_seeds()
R18_SDT, R18_MTT = r18_sdt(), r18_mtt()  # seed 0
STAND_IN = stand_in_note("cifar100")


def analysis_part(method, name, analysis, dataset="cifar100", metrics=None, timestep=None, metric_map=None, note="",
                  **select):
    """A table part of the rows of ``analysis`` on run ``name`` (metrics kept as they are, or
    renamed by ``metric_map`` to the reference's)."""
    if metrics:
        select["metric"] = metrics
    return tables.part(analysis_of(name, analysis), method, dataset, stand_in_note(dataset), select=select,
                       timestep=timestep, metric=None, metric_map=metric_map, value="value", note=note)


table(
    "table13",
    "Table 13: gradient norms of SDT and MTT models (ResNet-18, CIFAR-100)",
    # the paper's "gradient of loss over the entire training set": of the summed loss (compared, as
    # weight_grad_norm) or of the mean (ours only); tfsnn.analysis.gradients says why the sum
    [analysis_part(label, name, "gradients",
                   metrics=["weight_grad_norm_sum_loss", "weight_grad_norm_mean_loss", "input_grad_norm"],
                   metric_map={"weight_grad_norm_sum_loss": "weight_grad_norm"},
                   note="weight_grad_norm: of the summed loss over the training set (compared with the paper); "
                        "weight_grad_norm_mean_loss: of the mean loss (N times smaller)")
     for seed in seeds() for label, name in [(labels.MTT, r18_mtt(seed)), (labels.SDT, r18_sdt(seed))]],
)
table(
    "sec4.2",
    "Section 4.2: cosine similarity of the training gradients at T=3 and T=6, along NMT and SDT training",
    [analysis_part(label, run_of(seed), "gradient_cosine", metrics=["grad_cosine_similarity"], timestep="compare_T",
                   note=f"train mode, the run's loss, fixed training batches; mean over epochs {COSINE_EPOCHS} "
                        "and seeds (per epoch: the table's CSV)")
     for seed in SEEDS for label, run_of in [(labels.NMT, r18_nmt), (labels.SDT, r18_sdt)]],
)
for name, target in [("fig5", "weights"), ("fig6", "inputs")]:
    figure(name, {label: [analysis_of(run_of(seed), "noise", target=target) for seed in SEEDS]
                  for label, run_of in [(labels.SDT, r18_sdt), (labels.MTT, r18_mtt)]}, kind="noise", target=target)
figure("fig9", {label: [analysis_of(run_of(seed), "landscape") for seed in SEEDS]
                for label, run_of in [(labels.SDT, r18_sdt), (labels.MTT, r18_mtt)]}, kind="landscape")

# accuracy estimation and search: CIFAR-100 (section 5.3, Fig. 7A; every seed) and CIFAR-10 (A.9,
# Fig. 8; behind no claim: one seed)
for section, fig, dataset, section_seeds in [("sec5.3", "fig7A", "cifar100", SEEDS),
                                             ("appA.9", "fig8", "cifar10", SEEDS[:1])]:
    mtt = {seed: resnet18(dataset, "mtt", seed=seed, t_min=1, t_max=6, samples=3) for seed in section_seeds}
    table(
        section,
        f"{section}: fitted accuracy model and the best configuration under the energy of uniform T=3 ({dataset})",
        [
            part
            for seed in section_seeds
            for part in [
                analysis_part(labels.MTT, mtt[seed], "estimation", dataset,
                              metrics=[f"fitted_K_{i}" for i in range(1, 9)] + ["fitted_c"]),
                analysis_part(labels.MTT, mtt[seed], "estimation", dataset, metrics=["top1_acc"], timestep="config",
                              split=["search", "uniform"]),
            ]
        ],
    )
    figure(fig, {labels.MTT: [analysis_of(mtt[seed], "estimation") for seed in section_seeds]}, kind="estimation",
           dataset=dataset)

figure(
    "fig7B",
    {
        **{labels.granularity(g): [
            evaluation_of(resnet18("cifar100", "mtt", seed=seed, model={"granularity": g}, t_min=1, t_max=6, samples=3),
                          [2, 3, 4, 5, 6])
            for seed in SEEDS]
           for g in labels.GRANULARITIES},
        labels.SDT: [evaluation_of(r18_sdt(seed), [2, 3, 4, 5, 6]) for seed in SEEDS],
    },
    kind="granularity",
)
figure("fig7C", {labels.MTT: [metrics_of(r18_mtt(seed)) for seed in SEEDS]}, kind="bn_curves")
# Table 11: at each budget e x s, the run of sampling number s trained for e = budget / s epochs,
# its own cosine schedule; read at its last epoch (s=3 at the family's epochs is r18_mtt itself)
TABLE11 = {}
for budget in SCALE.get("sampling_number", {}).get("budgets", []):
    for s in SCALE["sampling_number"]["samples"]:
        if budget % s:
            raise ValueError(f"config/scales/{SCALE_NAME}.yaml: sampling_number budget {budget} does not divide by "
                             f"s={s} (e = budget / s epochs)")
        TABLE11[f"{labels.sampling_number(s)} e={budget // s}"] = {"samples": s, "epochs": budget // s,
                                                                  "budget": budget}
if TABLE11:
    figure("table11", {label: metrics_of(resnet18("cifar100", "mtt", train={"epochs": cell["epochs"]}, t_min=1,
                                                  t_max=6, samples=cell["samples"]))
                       for label, cell in TABLE11.items()},
           kind="sampling_number", fields=TABLE11)
else:
    not_run("table11", f"config/scales/{SCALE_NAME}.yaml has no sampling_number section")

table(
    "table12",
    "Table 12: MTT ResNet-19 on CIFAR-100 with T_max BN statistics and with statistics recalculated per T",
    [
        tables.part(analysis, label, "cifar100", STAND_IN, select={"statistics": statistics}, metric=None,
                    value="value")
        for analysis in [analysis_of(r19("mtt", seed, t_min=1, t_max=6, samples=3), "bn_statistics") for seed in seeds()]
        for label, statistics in [(labels.MTT_TMAX_BN, "T_max"), (labels.MTT_RECALCULATED_BN, "recalculated")]
    ],
)
