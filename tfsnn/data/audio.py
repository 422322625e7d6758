"""Audio to spikes: a cochlea-like front end that turns raw audio into spike trains on 700
channels, as the Spiking Heidelberg Digits were made, and the Free Spoken Digit Dataset (FSDD)
it makes into ``fsdd-spikes``.

SHD (Cramer et al. 2020) passed each recording through a hydrodynamic basilar-membrane model
with 700 channels, a hair-cell model (Meddis) driving auditory-nerve fibres, and a layer of
bushy cells, one spike train per channel. :class:`Cochlea` keeps that structure in a simpler,
deterministic form:

1. Level: the recording (full scale 1) is scaled to RMS ``level``; a recording whose RMS is
   below ``silence`` gives no spikes.
2. Basilar membrane: ``channels`` 4th-order gammatone filters (Patterson; bandwidth
   1.019 ERB, ERB = 24.7 (4.37 f / 1000 + 1) Hz, Glasberg & Moore 1990), centre frequencies
   evenly spaced on the ERB-rate scale from ``f_min`` to ``f_max``, unit gain at the centre;
   channel 0 is the lowest. Applied as FIR filters (impulse responses cut after 15 time
   constants of the widest response) by FFT.
3. Inner hair cell: half-wave rectification and a first-order low-pass at ``ihc_cutoff``
   (loss of phase locking); the result is resampled to ``2 * ihc_cutoff`` Hz.
4. Nerve fibre: a saturating rate-level function ``max_rate * e^2 / (e^2 + half_level^2)``
   of the hair-cell output ``e``.
5. Spikes: an integrate-and-fire encoder per channel emits one spike each time the integral of
   the rate passes a whole number (deterministic: the same audio gives the same spikes).

Defaults are for FSDD (8 kHz sampling: ``f_max`` 3.5 kHz, below Nyquist; SHD's channels reach
higher frequencies). On FSDD they give about 5,000 spikes a recording, some 20 spikes/s per
channel on average, with roughly 450 of the 700 channels active; a pure tone drives the
channels within about 20% of its frequency. ``fsdd-spikes`` is NOT SHD: another corpus
(FSDD v1.0.10: 3,000 English recordings of 10 digits by 6 speakers, its own split, recordings
0-4 of each speaker and digit for testing) and a simplified front end; report it as such.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from tfsnn.data.core import DataError, Recordings
from tfsnn.data.events import as_events
from tfsnn.data.packs import count_of, labels_of, spans_of

__all__ = ["Cochlea", "read_fsdd", "audio_from_pack", "audio_to_pack", "spike_recordings", "FSDD_URL"]

FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"
FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def _erb(f):
    return 24.7 * (4.37e-3 * f + 1)


def _erb_rate(f):
    return 21.4 * np.log10(4.37e-3 * f + 1)


@dataclass(frozen=True)
class Cochlea:
    """The front end's parameters (see the module docstring); call it on audio."""

    channels: int = 700
    f_min: float = 50.0  # Hz, lowest centre frequency
    f_max: float = 3500.0  # Hz, highest centre frequency (below the Nyquist frequency)
    level: float = 0.05  # RMS each recording is scaled to (full scale 1)
    silence: float = 1e-4  # RMS below which a recording gives no spikes
    ihc_cutoff: float = 1000.0  # Hz, hair-cell low-pass; spikes are timed at twice this rate
    max_rate: float = 300.0  # spikes/s of a saturated channel
    half_level: float = 0.01  # hair-cell output giving half the maximum rate

    def centre_frequencies(self) -> np.ndarray:
        erb_rates = np.linspace(_erb_rate(self.f_min), _erb_rate(self.f_max), self.channels)
        return (10 ** (erb_rates / 21.4) - 1) / 4.37e-3

    def _length(self, sample_rate: int) -> int:
        return int(np.ceil(15 / (2 * np.pi * 1.019 * _erb(self.f_min)) * sample_rate))

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Spike events (``x`` = channel, ``t`` in microseconds, sorted by time) of ``audio``
        (int16, or float with full scale 1) sampled at ``sample_rate`` Hz."""
        import scipy.fft as sf

        if self.f_max >= sample_rate / 2:
            raise DataError(f"cochlea f_max {self.f_max} Hz is not below the Nyquist frequency of "
                            f"{sample_rate} Hz audio")
        x = np.asarray(audio, dtype=np.float64)
        if np.issubdtype(np.asarray(audio).dtype, np.integer):
            x = x / 32768
        rms = float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
        if rms < self.silence:
            return as_events([], 0, [], 0)
        x = (x * (self.level / rms)).astype(np.float32)
        n = sf.next_fast_len(len(x) + self._length(sample_rate), real=True)
        membrane = sf.irfft(sf.rfft(_gammatone(self, sample_rate), n, axis=1) * sf.rfft(x, n), n, axis=1)
        m = int(round(n * 2 * self.ihc_cutoff / sample_rate))
        m += m % 2
        rectified = sf.rfft(np.maximum(membrane, 0), n, axis=1)[:, : m // 2 + 1]
        lowpass = 1 / (1 + 1j * (np.arange(m // 2 + 1) * sample_rate / n) / self.ihc_cutoff)
        steps = int(np.ceil(len(x) * m / n))
        hair = np.maximum(sf.irfft(rectified * lowpass.astype(np.complex64), m, axis=1)[:, :steps] * (m / n), 0)
        rate = self.max_rate * hair**2 / (hair**2 + self.half_level**2)
        step_rate = sample_rate * m / n
        counts = np.floor(np.cumsum(rate / step_rate, axis=1))
        channel, step = np.nonzero(np.diff(counts, axis=1, prepend=0))
        order = np.argsort(step, kind="stable")
        return as_events(channel[order], 0, np.round(step[order] * 1e6 / step_rate).astype(np.int64), 0)


@lru_cache(maxsize=4)
def _gammatone(cochlea: Cochlea, sample_rate: int) -> np.ndarray:
    """Impulse responses ``[channels, length]`` of the gammatone filters, unit gain at each
    centre frequency."""
    cf = cochlea.centre_frequencies()
    bandwidth = 1.019 * _erb(cf)
    t = np.arange(cochlea._length(sample_rate)) / sample_rate
    impulse = t**3 * np.exp(-2 * np.pi * bandwidth[:, None] * t) * np.cos(2 * np.pi * cf[:, None] * t)
    gain = np.abs((impulse * np.exp(-2j * np.pi * cf[:, None] * t)).sum(axis=1))
    return (impulse / gain[:, None]).astype(np.float32)


def _audio_spikes(read, sample_rate: int, cochlea: Cochlea, item) -> np.ndarray:
    return cochlea(read(item), sample_rate)


def spike_recordings(audio: Recordings, cochlea: Cochlea) -> Recordings:
    """The spike trains (events on ``cochlea.channels`` units) of audio recordings."""
    rate = audio.info["sample_rate"]
    identity = f"{audio.identity}|cochlea:{json.dumps(asdict(cochlea), sort_keys=True)}"
    return Recordings("events", audio.labels, audio.items, partial(_audio_spikes, audio.reader, rate, cochlea),
                      identity, {"sensor_size": (cochlea.channels, 1, 1)}, audio.positions)


def _read_wav(sample_rate: int, path: str) -> np.ndarray:
    from scipy.io import wavfile

    rate, audio = wavfile.read(path)
    if rate != sample_rate or audio.dtype != np.int16 or audio.ndim != 1:
        raise DataError(f"{path}: expected mono 16-bit audio at {sample_rate} Hz, got {audio.dtype} "
                        f"{audio.shape} at {rate} Hz")
    return audio


def read_fsdd(root: Path, split: str, download: bool, expected: str) -> Recordings:
    """FSDD's recordings ``<digit>_<speaker>_<index>.wav`` anywhere under ``<root>/FSDD``
    (the release archive is downloaded there when ``download`` is on); ``test`` holds index 0-4."""
    folder = root / "FSDD"
    paths = sorted(p for p in folder.glob("**/*.wav") if FSDD_NAME.match(p.name)) if folder.is_dir() else []
    if not paths and download:
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive(FSDD_URL, str(folder))
        except Exception as err:  # urllib raises many types
            raise DataError(f"FSDD could not be downloaded into {folder}: {err}") from None
        paths = sorted(p for p in folder.glob("**/*.wav") if FSDD_NAME.match(p.name))
    if not paths:
        raise DataError(
            f"FSDD not found under {folder}: set data.download: true to fetch it, or put {expected} there "
            "(data.root or TFSNN_DATA names the root folder)"
        )
    parsed = [FSDD_NAME.match(p.name).groups() for p in paths]
    in_test = np.array([int(index) < 5 for _, _, index in parsed])
    keep = np.flatnonzero(in_test == (split == "test"))
    labels = np.array([int(parsed[i][0]) for i in keep], dtype=np.int64)
    identity = f"download:FSDD:{folder.resolve()}:{len(paths)} files:{split}"
    return Recordings("audio", labels, [str(paths[i]) for i in keep], partial(_read_wav, 8000), identity,
                      {"sample_rate": 8000})


def _slice_audio(audio: np.ndarray, span) -> np.ndarray:
    return audio[span[0] : span[1]]


def audio_from_pack(archive, split: str, identity: str, num_classes: int) -> Recordings:
    """Recordings of an audio pack (fsdd.npz's format: one array, ``is_test`` marks the split);
    labels and lengths checked."""
    labels = labels_of(archive["labels"], "labels", num_classes)
    is_test = archive["is_test"]
    count_of("is_test", len(is_test), "labels", len(labels))
    audio = archive["audio"]
    keep = np.flatnonzero(is_test == (split == "test"))
    spans = spans_of(archive["offsets"], "offsets", len(audio), "audio", len(labels))[keep]
    return Recordings("audio", labels[keep], spans, partial(_slice_audio, audio), identity,
                      {"sample_rate": int(archive["sample_rate"])})


def audio_to_pack(splits: dict[str, Recordings]) -> dict[str, np.ndarray]:
    clips, labels, is_test, rates = [], [], [], set()
    for split, rec in splits.items():
        clips += [rec[i] for i in range(len(rec))]
        labels.append(rec.labels)
        is_test += [split == "test"] * len(rec)
        rates.add(rec.info["sample_rate"])
    return {
        "audio": np.concatenate(clips).astype(np.int16),
        "offsets": np.concatenate([[0], np.cumsum([len(c) for c in clips])]).astype(np.int64),
        "labels": np.concatenate(labels),
        "sample_rate": np.array(rates.pop(), dtype=np.int64),
        "is_test": np.array(is_test),
    }
