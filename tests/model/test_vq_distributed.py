"""Under DDP every rank must keep the same codebook: statistics are all-reduced, restarts come from rank 0."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from minet_desktop.model.config import BundleConfig
from minet_desktop.model.vqvae import VectorQuantizer


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)  # same initial codebook on both ranks, as DDP's initial broadcast would give
        q = VectorQuantizer(dataclasses.replace(BundleConfig.tiny().vqvae, dead_code_threshold=1.0)).train()
        torch.manual_seed(100 + rank)  # different data and different restart draws per rank
        for _ in range(5):
            q(torch.randn(2, 8, 12) + 3.0 * rank)
        torch.save(q.state_dict(), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_keep_identical_codebooks(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert bool(a["initialized"])
