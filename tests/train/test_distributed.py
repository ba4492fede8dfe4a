"""defian.train.distributed: 2 gloo processes under torchrun train exactly like 1 process at the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from defian import paths
from defian.train import checkpoint, distributed, run_record


def test_strided_split_covers_the_global_batch_once() -> None:
    ranks = [distributed.rank_slice(8, distributed.DistContext(rank=r, world_size=4)) for r in range(4)]
    assert sorted(i for r in ranks for i in r) == list(range(8))
    assert list(ranks[1]) == [1, 5]  # DistributedSampler order: rank r takes r, r+W, ...
    with pytest.raises(ValueError, match="batch=6 is not divisible by WORLD_SIZE=4"):
        distributed.rank_slice(6, distributed.DistContext(world_size=4))


def test_single_process_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = distributed.setup("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    x = torch.tensor([1.5])
    assert distributed.mean_over_ranks(x, ctx) is x
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        distributed.setup("cpu")


def test_cuda_request_without_cuda_is_named() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="device='cuda'"):
        distributed.pick_device("cuda")


def test_glibc_malloc_tuning_applies_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    assert distributed.preloaded_allocator() == "jemalloc"
    assert distributed.tune_glibc_malloc() is False  # never fight a preloaded allocator
    monkeypatch.delenv("LD_PRELOAD")
    if os.uname().sysname == "Linux" and os.confstr("CS_GNU_LIBC_VERSION"):
        assert distributed.tune_glibc_malloc() is True


def _train(root: Path, launcher: list[str]) -> run_record.Run:
    args = ["-m", "defian.train", "--schedule", "smoke", "--model", "defian_s", "--no-progress", "--updates", "6",
            "--batch", "4", "--log-every", "1", "--ckpt-every", "3", "--val-every", "0", "--runs-root", str(root)]
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *launcher, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = root.iterdir()
    return run_record.read(run)


def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    """torchrun --nproc_per_node=2 (gloo, batch 2 per rank) == 1 process with batch 4, to ~1e-6."""
    one = _train(tmp_path / "one", [])
    two = _train(tmp_path / "two", ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"])
    assert two.environment["world_size"] == 2 and one.environment["world_size"] == 1
    assert [r["update"] for r in two.metrics] == list(range(1, 7))
    torch.testing.assert_close([r["loss"] for r in two.metrics], [r["loss"] for r in one.metrics],
                               rtol=1e-6, atol=1e-7)  # the loss is the global batch's mean on both
    a, b = checkpoint.load(one.dir / "last.pt"), checkpoint.load(two.dir / "last.pt")
    assert a["update"] == b["update"] == 6
    # Parameters whose exact gradient is zero (the DAC re-standardises the attention map, so a
    # constant offset before it -- the gate's bias -- cannot change the output) get float32
    # rounding noise as gradient; Adam divides it by its own size and moves them by ~lr per
    # update in *any* run. They do not affect the loss; every other weight agrees to 1e-6.
    zero_grad = _exactly_zero_gradient(one.config)
    assert zero_grad and all("endec" in k for k in zero_grad), zero_grad
    lr, updates = one.config["lr"], 6
    for k in a["model"]:
        tol = 2 * lr * updates if k in zero_grad else 1e-6
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=0, atol=tol, msg=k)


def _exactly_zero_gradient(cfg: dict) -> set[str]:
    """Parameters whose float64 gradient at the initial weights is 0 up to 1e-15 (independent check)."""
    from defian.nn.model import build_model

    torch.manual_seed(cfg["seed"])
    model = build_model(cfg["model"], cfg["scale"], **cfg["switches"]).double()
    p, s = cfg["patch"], cfg["scale"]
    x, y = torch.rand(4, 3, p, p, dtype=torch.float64), torch.rand(4, 3, s * p, s * p, dtype=torch.float64)
    (model(x) - y).abs().mean().backward()
    return {n for n, q in model.named_parameters() if q.grad is not None and q.grad.abs().max() < 1e-15}
