"""The reference for ``python -m benchmarks vae``: the configuration of the PyTorch examples VAE
(``vae/main.py``): an MLP 784-400-20-400-784, BCE summed over pixels plus KL, Adam at 1e-3, batch
128, 10 epochs, images fed through a ``DataLoader`` with ``ToTensor``. Re-written here to run
beside the chapter's VAE on the same machine and data. The chapter binarises MNIST (a Bernoulli
likelihood is a likelihood of binary pixels only), so the reference trains on binarised batches
(a fresh draw per batch) and is tested on the chapter's own binarised test digits: both numbers are
then negative ELBOs of the same binary images, in nats."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def _loss(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def reference(quick: bool = False) -> dict[str, float]:
    """Train the reference VAE; return its test loss (nats per image) and training seconds."""
    from torchvision import datasets, transforms

    from coursekit.data import data_dir, load_mnist

    load_mnist()                                              # makes sure the files are there
    torch.manual_seed(1)
    kwargs = dict(root=str(data_dir()), download=False, transform=transforms.ToTensor())
    train = torch.utils.data.DataLoader(datasets.MNIST(train=True, **kwargs), batch_size=128, shuffle=True)
    model = ReferenceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(1 if quick else 10):
        model.train()
        for i, (x, _) in enumerate(train):
            if quick and i == 20:
                break
            x = torch.bernoulli(x)
            recon, mu, logvar = model(x)
            loss = _loss(recon, x, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    total = 0.0
    # the chapter's binarised test digits (book/02_vae.ipynb: one draw of torch.bernoulli, seed 1)
    x_test = torch.bernoulli(load_mnist(train=False)[0].flatten(1), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for x in x_test.split(128):
            recon, mu, logvar = model(x)
            total += _loss(recon, x, mu, logvar).item()
    return {"test_nats": total / len(x_test), "train_seconds": seconds}
