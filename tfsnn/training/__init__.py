"""Training: methods (SDT, NMT, MTT, yours) and the trainer that runs them."""

from tfsnn.training.methods import METHODS, MTT, NMT, SDT, Method, build_method, register
from tfsnn.training.trainer import Trainer, build_optimizer, train_step

__all__ = ["METHODS", "MTT", "NMT", "SDT", "Method", "Trainer", "build_method", "build_optimizer", "register", "train_step"]
