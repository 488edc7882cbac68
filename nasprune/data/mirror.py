"""Whether a horizontal flip keeps an image's class, judged from the data: what ``--augment auto`` decides flips
by on data sets nasprune has no rule for (image folders).

A mirror turns b into d and p into q, and most digits into no digit, while a mirrored photo of a cat is a cat.
The test asks a quick classifier: random convolution features (a fixed-seed 5x5 filter bank, pooled over a 2x2
grid) and a ridge classifier (scikit-learn), fitted on training images and scored on held-out ones, as they
are and mirrored. Where mirroring keeps the class, the mirrored images are classified about as well (the
classifier saw both orientations in training); where it changes the class, they are not.

Measured (accuracy -> mirrored, chance 0.10; benchmarks/datasets.py's sets, 1-3 s each on 2 cores): CIFAR-10
colour 32x32 0.48 -> 0.50, grayscale 0.44 -> 0.47, 16x16 0.46 -> 0.47; digits 8x8 0.98 -> 0.37, digits drawn at
28x28 0.95 -> 0.29. Flips are chosen where the mirrored images keep ``KEEP`` (80%) of the classifier's lead over
chance. Where the classifier is not ``MIN_LEAD`` (10 points) above chance, the data gives no evidence (small
letters on clutter: 0.12 at chance 0.08), and there are no flips: a flip that changes the class costs more than a
missing one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MirrorTest", "mirror_test", "KEEP", "MIN_LEAD"]

KEEP = 0.8  # share of the lead over chance mirrored images must keep for flips to be chosen
MIN_LEAD = 0.1  # the classifier's lead over chance below which the test is no evidence
_IMAGES = 3000  # images the test uses at most (stratified); 30% of them are held out
_FILTERS = 64
_SIDE = 32  # larger images are shrunk to this short side first (the test looks at shapes, not detail)


@dataclass(frozen=True)
class MirrorTest:
    """What the test measured, and what it decides."""

    accuracy: float  # the quick classifier on held-out training images
    mirrored: float  # the same classifier on the same images mirrored
    chance: float  # the share of the largest class among them

    @property
    def kept(self) -> float:
        """Share of the lead over chance the mirrored images keep (1: a mirror changes nothing)."""
        return (self.mirrored - self.chance) / max(self.accuracy - self.chance, 1e-9)

    @property
    def evidence(self) -> bool:
        return self.accuracy - self.chance >= MIN_LEAD

    @property
    def flip(self) -> bool:
        return self.evidence and self.kept >= KEEP

    def reason(self) -> str:
        """The decision and its numbers, in words."""
        numbers = (f"a quick classifier scores {self.accuracy:.2f} on held-out training images, "
                   f"{self.mirrored:.2f} mirrored (chance {self.chance:.2f})")
        if not self.evidence:
            return f"no flip: {numbers}, too close to chance to tell whether a mirror keeps the class"
        if self.flip:
            return f"flip: {numbers}, so a mirror keeps the class"
        return f"no flip: {numbers}, so a mirror changes the class"


def _features(x: torch.Tensor, seed: int) -> np.ndarray:
    """(N, C, H, W) uint8 -> (N, 4 * _FILTERS) random-convolution features."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(_FILTERS, x.shape[1], 5, 5, generator=g)
    weight -= weight.mean((1, 2, 3), keepdim=True)  # edges and blobs, not brightness
    out = []
    with torch.no_grad():
        for i in range(0, len(x), 512):
            batch = x[i:i + 512].float() / 255
            side = min(batch.shape[2:])
            if side > _SIDE:
                batch = F.interpolate(batch, scale_factor=_SIDE / side, mode="area")
            batch = (batch - batch.mean((1, 2, 3), keepdim=True)) / batch.std((1, 2, 3), keepdim=True).clamp_min(1e-3)
            h = F.relu(F.conv2d(batch, weight, padding=2))  # (n, F, h, w)
            out.append(F.adaptive_avg_pool2d(h, (2, 2)).flatten(1))  # (n, 4F)
    return torch.cat(out).numpy()


def _split(index: np.ndarray, labels: np.ndarray, size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified where every class has images enough, else plain."""
    from sklearn.model_selection import train_test_split  # scikit-learn: imported where used (nasprune.data.splits)

    try:
        return train_test_split(index, train_size=size, stratify=labels[index], random_state=seed)
    except ValueError:  # a class with a single image
        return train_test_split(index, train_size=size, random_state=seed)


def mirror_test(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> MirrorTest:
    """Run the test on training images ``x`` (N, C, H, W, uint8) with labels ``y``; deterministic for a seed."""
    labels = np.asarray(y)
    index = np.arange(len(labels))
    if len(index) > _IMAGES:
        index, _ = _split(index, labels, _IMAGES, seed)
    fit, held = _split(index, labels, 0.7, seed)
    x = torch.as_tensor(x)
    a, b, m = _features(x[fit], seed), _features(x[held], seed), _features(x[held].flip(3), seed)  # flip: (N,C,H,W)
    mean, std = a.mean(0), a.std(0) + 1e-6
    from sklearn.linear_model import RidgeClassifier

    model = RidgeClassifier(alpha=100.0).fit((a - mean) / std, labels[fit])
    chance = np.bincount(labels[held]).max() / len(held)
    return MirrorTest(accuracy=float(model.score((b - mean) / std, labels[held])),
                      mirrored=float(model.score((m - mean) / std, labels[held])), chance=float(chance))
