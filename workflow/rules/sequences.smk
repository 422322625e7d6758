# Tables 14-16: sequence and audio tasks (A.12). Fully connected LIF networks; the first stage
# runs at the input's T and MTT samples the later stages monotonically non-increasing.
# sequential MNIST: 2x64, tau 0.99; SHD and SSC: 70 inputs, 3x128, tau 0.9753 (150 and 60 epochs).


def sequence_parts(dataset, family):
    T = family_T(family)
    return [
        part
        for seed in seeds()
        for part in [
            evaluation_part(labels.SDT, dataset, family, "sdt", [T], seed=seed, timestep=None, T=T),
            evaluation_part(labels.MTT, dataset, family, "mtt", [T], seed=seed, timestep=None, t_min=1, t_max=T,
                            samples=3, monotone=True),
        ]
    ]


for name, title, dataset, family in [
    ("table14", "Table 14: sequential MNIST, SDT and MTT (the RNN row: the paper's)", "seqmnist", "seqmnist-fc"),
    ("table15", "Table 15: SHD, SDT and MTT", "shd", "shd-fc"),
    ("table16", "Table 16: SSC, SDT and MTT", "ssc", "ssc-fc"),
]:
    if runs_here(family):
        table(name, title, sequence_parts(dataset, family))
    else:
        not_run(name, f"config/scales/{SCALE_NAME}.yaml does not list family {family}")
