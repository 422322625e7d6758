"""Every dataset of the paper by name, from the real downloads or from offline packs, with
provenance.

    data = load("cifar10dvs", root="/data")            # tonic download, 9:1 split, 10 frames 48x48
    data = load("nmnist", "pack", pack_dir="../shared/data", train_size=500)
    loader = make_loader(data.train, 50, train=True)    # frames come as [T, B, 2, H, W]

Sources: ``download`` (torchvision, tonic, the FSDD release) under ``root`` (``data.root``,
else ``$TFSNN_DATA``, else ``./data``), fetched when ``download`` is on; with it off and the
files missing, a :class:`DataError` names the dataset, the folder and what to put there.
``pack``: a pack (``tfsnn.data.packs``) in ``pack_dir`` (``data.pack_dir``, else
``$TFSNN_PACKS``), checked against its sha256; ``tfsnn data pack`` (:func:`make_pack`) writes
one from any dataset. Nothing ever falls back to other or synthetic data.

Modules: ``catalog`` (the datasets and where they come from), ``images``, ``events`` (frames,
spikes, augmentation), ``audio`` (the cochlea front end and FSDD), ``packs``, ``cache`` (event
frames on disk), ``loading`` (:func:`load`, :func:`make_loader`), ``core``.

Every :class:`Datasets` (and each of its train and test sets) carries a provenance dict for
the result rows: dataset, data_source (``pack:<file>:sha256=<16 hex>`` or
``download:<library>.<class>``), data_file (relative to the data directory: the pack's file in
``pack_dir``, ``.`` for a download root; never a machine's absolute path), data_sha256,
data_split, data_origin, data_subset, data_preprocessing, train_size and test_size.
"""

from tfsnn.data.audio import Cochlea
from tfsnn.data.catalog import DATASETS, DatasetInfo, make_pack, read_splits
from tfsnn.data.core import DataError, Datasets, Recordings, balanced_subset, split_per_class
from tfsnn.data.loading import default_workers, load, make_loader

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "Datasets",
    "DataError",
    "Recordings",
    "Cochlea",
    "load",
    "make_loader",
    "default_workers",
    "make_pack",
    "read_splits",
    "balanced_subset",
    "split_per_class",
]
