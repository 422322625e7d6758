"""Stage-wise temporally flexible SNNs (section 4.3) and the paper's architectures."""

from tfsnn.models.architectures import ARCHITECTURES, build, neuron_factory
from tfsnn.models.tfsnn import TFSNN

__all__ = ["ARCHITECTURES", "TFSNN", "build", "neuron_factory"]
