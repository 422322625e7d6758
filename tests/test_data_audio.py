"""The cochlea front end (tones, silence, determinism) and FSDD through its release layout."""

import numpy as np
import pytest
import torch
from real_formats import write_fsdd_wavs

from tfsnn.data import Cochlea, DataError, load

RATE = 8000


def tone(frequency, seconds=0.5, amplitude=8000):
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


@pytest.mark.parametrize("frequency", [300.0, 1000.0, 2500.0])
def test_a_tone_excites_the_channels_around_its_frequency(frequency):
    cochlea = Cochlea()
    events = cochlea(tone(frequency), RATE)
    counts = np.bincount(events["x"], minlength=cochlea.channels)
    cf = cochlea.centre_frequencies()
    centre = np.exp((counts * np.log(cf)).sum() / counts.sum())
    assert abs(centre / frequency - 1) < 0.05
    near = (cf > frequency / 1.4) & (cf < frequency * 1.4)
    assert counts[near].sum() > 0.95 * counts.sum()
    assert counts.max() <= cochlea.max_rate * 0.5 + 1  # 0.5 s at most at the maximum rate


def test_silence_gives_no_spikes():
    cochlea = Cochlea()
    assert len(cochlea(np.zeros(4000, dtype=np.int16), RATE)) == 0
    assert len(cochlea(np.ones(4000, dtype=np.int16), RATE)) == 0  # below the silence level
    assert len(cochlea(np.zeros(0, dtype=np.int16), RATE)) == 0


def test_spikes_are_deterministic_sorted_and_within_the_recording():
    audio = tone(440.0, 0.3) + tone(1800.0, 0.3, 3000)
    a, b = Cochlea()(audio, RATE), Cochlea()(audio, RATE)
    assert len(a) > 100 and np.array_equal(a, b)
    assert np.all(np.diff(a["t"]) >= 0) and a["t"].max() < 300_000 and a["x"].max() < 700
    with pytest.raises(DataError, match="not below the Nyquist"):
        Cochlea(f_max=5000)(audio, RATE)


def test_fsdd_release_layout_through_the_download_reader(tmp_path, pack_dir):
    with np.load(pack_dir / "fsdd.npz") as pack:
        fsdd = {k: pack[k] for k in ("audio", "offsets", "filenames", "sample_rate", "index", "labels")}
    chosen = np.flatnonzero(fsdd["index"] % 10 == 3)[::12].tolist() + np.flatnonzero(fsdd["index"] == 4)[::20].tolist()
    write_fsdd_wavs(tmp_path / "FSDD" / "free-spoken-digit-dataset-1.0.10", fsdd, chosen)
    data = load("fsdd-spikes", root=tmp_path, download=False, cache=False, time_bins=50, duration=0.5)
    n_test = int((fsdd["index"][chosen] < 5).sum())
    assert (len(data.train), len(data.test)) == (len(chosen) - n_test, n_test) and n_test > 0
    assert data.provenance["data_source"] == "download:FSDD" and data.in_channels == 70
    x, y = data.test[0]
    assert x.shape == (50, 70) and x.dtype == torch.float32 and x.sum() > 100 and 0 <= y < 10
    with pytest.raises(DataError, match=rf"FSDD not found under {tmp_path / 'none' / 'FSDD'}.*\.wav"):
        load("fsdd-spikes", root=tmp_path / "none", download=False)
