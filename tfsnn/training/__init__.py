"""Training: methods (SDT, NMT, MTT, yours) and the trainer that runs them."""

from tfsnn.training.methods import METHODS, MTT, MTTTET, NMT, SDT, TET, Method, build_method, register
from tfsnn.training.trainer import Trainer, build_optimizer, train_step

__all__ = ["METHODS", "MTT", "MTTTET", "NMT", "SDT", "TET", "Method", "Trainer", "build_method", "build_optimizer",
           "register", "train_step"]
