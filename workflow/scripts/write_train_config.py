"""Write the training config of one run (rule train_config), checked as `tfsnn train` will."""

import sys

import yaml

from tfsnn.config import validate_config
from tfsnn.io import atomic_path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

config = snakemake.params.config  # noqa: F821
validate_config(config)  # a bad scale file fails here, naming the field
with atomic_path(snakemake.output[0]) as tmp:  # noqa: F821
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
