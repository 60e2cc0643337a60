"""Distributed data-parallel training (gloo, CPU) on scikit-learn's bundled digits data.

Reads the PyTorchJob env contract (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK) that Arena
sets for every replica, on the local engine and on a cluster alike:

    arena submit pytorchjob --name digits --workers 2 --wait "python examples/pytorch/ddp_digits.py"
    arena logs digits            # ... final test accuracy=0.9xx

With `--save DIR`, rank 0 writes the trained classifier to DIR/model.pt (TorchScript: 64 pixel values
scaled to 0..1 in, the digit out), which examples/serving/ serves with `arena serve`.

With `--no-set-threads` the script leaves torch's thread count alone, as most users' scripts do, so the
launcher's OMP_NUM_THREADS decides; `python -m bench` times both.

No download: the data ships inside scikit-learn.
"""
from __future__ import annotations

import argparse
import os
import time

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def data() -> tuple[TensorDataset, TensorDataset]:
    x, y = load_digits(return_X_y=True)
    x = x / 16.0  # pixel values are 0..16
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    as_t = lambda a, dt: torch.tensor(a, dtype=dt)  # noqa: E731
    return (TensorDataset(as_t(x_tr, torch.float32), as_t(y_tr, torch.long)),
            TensorDataset(as_t(x_te, torch.float32), as_t(y_te, torch.long)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--save", default="", help="directory to write model.pt to (TorchScript, rank 0)")
    parser.add_argument("--no-set-threads", action="store_true",
                        help="leave torch's thread count to the launcher, as most scripts do (bench/ measures both)")
    args = parser.parse_args()

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if not args.no_set_threads:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    train, test = data()
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler)
    model: nn.Module = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    if world > 1:
        model = DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            print(f"rank {rank} epoch {epoch + 1} loss {total / len(sampler):.4f}", flush=True)

    # Each rank scores a shard of the test set; the counts are summed across ranks.
    model.eval()
    idx = list(range(rank, len(test), world))
    with torch.no_grad():
        xs, ys = test.tensors[0][idx], test.tensors[1][idx]
        counts = torch.tensor([(model(xs).argmax(1) == ys).sum().item(), len(idx)], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(counts)
    if rank == 0:
        print(f"final test accuracy={counts[0].item() / counts[1].item():.4f} "
              f"(world size {world}, {time.time() - start:.1f}s training)", flush=True)
    if rank == 0 and args.save:
        save(model.module if world > 1 else model, args.save)
    if world > 1:
        dist.destroy_process_group()


class Classify(nn.Module):
    """The trained network with its decision: pixel values (0..1) in, the predicted digit out."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).argmax(dim=1)


def save(net: nn.Module, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "model.pt")
    torch.jit.script(Classify(net).eval()).save(path)
    print(f"saved {path}", flush=True)


if __name__ == "__main__":
    main()
