"""The yardstick for generators on 28x28 MedMNIST images (chapters 4 and 7).

A small classifier (the *judge*) trained on the real training images gives a feature space for a
Fréchet distance and reads the class of conditional samples. Chapter 4 explains both; chapter 7
reuses them from here so that the VAE, the GAN and the diffusion model are measured the same way.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from coursekit.training import batches


class Judge(nn.Module):
    """Two conv blocks and a 128-unit layer (the feature space), then a linear head."""

    def __init__(self, classes: int = 2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 28 -> 14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 14 -> 7
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_judge(images: torch.Tensor, labels: torch.Tensor, epochs: int, device: torch.device,
                seed: int = 0) -> Judge:
    """Train a :class:`Judge` with Adam and cross-entropy (horizontal flips as augmentation).

    Args:
        images: (N, 1, 28, 28) training images in the scale the generators use.
        labels: (N,) class indices.
    """
    torch.manual_seed(seed)
    model = Judge(int(labels.max()) + 1).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for x, y in batches(images, labels, batch_size=64, generator=order, device=device):
            x = torch.where(torch.rand(len(x), 1, 1, 1, device=device) < 0.5, x, x.flip(-1))
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def judge_features(judge: Judge, images: torch.Tensor) -> np.ndarray:
    """The judge's 128-d features of ``images`` as a float64 (N, 128) array."""
    device = next(judge.parameters()).device
    return torch.cat([judge.features(x.to(device)).cpu() for x in images.split(512)]).double().numpy()


@torch.no_grad()
def judge_predict(judge: Judge, images: torch.Tensor) -> torch.Tensor:
    """The judge's class for each image, (N,) on the CPU."""
    device = next(judge.parameters()).device
    return torch.cat([judge(x.to(device)).argmax(1).cpu() for x in images.split(512)])


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature matrices."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eps = 1e-6 * np.eye(len(cov_a))              # dead ReLU units make the covariances singular
    root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps)).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def class_agreement(judge: Judge, images: torch.Tensor, wanted: torch.Tensor) -> float:
    """Mean over classes of the share of conditional samples the judge reads as the requested class."""
    predicted = judge_predict(judge, images)
    shares = [(predicted[wanted == c] == c).float().mean().item() for c in wanted.unique().tolist()]
    return float(np.mean(shares))
