"""Write the training config of one run (rule train_config; validated when the workflow is parsed)."""

import yaml

from tfsnn.io import atomic_path

with atomic_path(snakemake.output[0]) as tmp:  # noqa: F821 (snakemake is injected)
    tmp.write_text(yaml.safe_dump(snakemake.params.config, sort_keys=False))  # noqa: F821
