"""tfsnn: temporally flexible spiking neural networks and mixed time-step training (MTT)."""

__version__ = "0.1.0"
