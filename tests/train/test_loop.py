"""defian.train.loop: the schedule of Sec. IV-B2, bit-exact resume after SIGKILL, stability checks."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import platform
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from defian import paths
from defian.train import checkpoint, config, run_record, loop
from defian.data.trainset import TrainSampler

TINY = ["--schedule", "smoke", "--model", "defian_s", "--no-progress"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(paths.ROOT)}


def _cli(root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "defian.train", *TINY, "--runs-root", str(root), *extra]


def test_full_schedule_values_are_the_papers() -> None:
    full = config.FULL
    assert (full.lr, full.betas, full.batch, full.patch, full.updates, full.lr_step, full.lr_gamma) == (
        1e-4, (0.9, 0.999), 16, 48, 600_000, 200_000, 0.5)
    assert config.SHORT.updates == 50_000 and config.SHORT.lr == full.lr
    rel = config.schedule("released", scale=3)
    assert (rel.lr, rel.patch * 3, rel.switches["normalisation"]) == (2e-4, 126, "imagenet")
    assert rel.lr_step * rel.epoch_updates == 200_000  # StepLR(100 epochs) x 2000 updates per epoch


def test_sigkill_then_resume_repeats_the_uninterrupted_run(tmp_path: Path) -> None:
    """A run killed with SIGKILL and resumed logs the same loss, update by update, bit for bit."""
    args = ["--updates", "48", "--log-every", "1", "--ckpt-every", "4", "--val-every", "0"]
    subprocess.run(_cli(tmp_path / "ref", *args), env=_env(), check=True, capture_output=True)
    (ref_dir,) = (tmp_path / "ref").iterdir()
    ref = run_record.read(ref_dir)

    proc = subprocess.Popen(_cli(tmp_path / "cut", *args), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 50
    rows: list[dict] = []
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "cut").glob("*/last.pt"))
        if found:
            rows = run_record.read_metrics(found[0].parent)
            if len(rows) >= 9:
                break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (cut_dir,) = (tmp_path / "cut").iterdir()
    assert not (cut_dir / "summary.json").exists(), "the run finished before it could be killed"
    killed_at = checkpoint.load(cut_dir / "last.pt")["update"]
    assert 8 <= killed_at < 48

    done = subprocess.run(_cli(tmp_path / "cut", *args), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    resumed = run_record.read(cut_dir)
    assert resumed.summary["resumed_from"] == killed_at
    assert not list(cut_dir.glob("*.tmp"))
    assert [r["update"] for r in resumed.metrics] == list(range(1, 49))
    assert [r["loss"] for r in resumed.metrics] == [r["loss"] for r in ref.metrics]  # exact, every update
    a, b = checkpoint.load(ref_dir / "last.pt"), checkpoint.load(cut_dir / "last.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert torch.equal(a["optimizer"]["state"][0]["exp_avg_sq"], b["optimizer"]["state"][0]["exp_avg_sq"])


class _Poisoned(torch.utils.data.Dataset):
    """A training set whose sample ``bad`` (an (epoch, item) key) is NaN (a broken image)."""

    def __init__(self, base: torch.utils.data.Dataset, bad: tuple[int, int]) -> None:
        self.base, self.bad = base, bad

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.base[key]
        return (torch.full_like(lr, math.nan), hr) if key == self.bad else (lr, hr)


def test_non_finite_loss_stops_naming_the_update_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = loop._train_set
    cfg = config.schedule("smoke", model="rcan_s", updates=40, log_every=1, ckpt_every=2, val_every=0)
    n = len(real(cfg)[0])
    # Poison the first sample of update 11, whatever the data (embedded or $DEFIAN_DATA) holds.
    keys = list(itertools.islice(iter(TrainSampler(n, cfg.seed)), 40 * cfg.batch))
    poisoned = keys[10 * cfg.batch]
    bad = keys.index(poisoned) // cfg.batch + 1  # an earlier repeat of the same key would come first
    assert bad <= 11
    monkeypatch.setattr(loop, "_train_set", lambda cfg: (_Poisoned(real(cfg)[0], poisoned), "embedded", "poisoned"))
    with pytest.raises(loop.NonFiniteError, match=rf"^update {bad}: non-finite loss"):
        loop.train(cfg, tmp_path)
    (run,) = tmp_path.iterdir()
    assert checkpoint.load(run / "last.pt")["update"] == (bad - 1) // 2 * 2
    summary = run_record.read(run).summary
    assert summary["status"] == "diverged" and f"update {bad}" in summary["message"]
    assert all(torch.isfinite(v).all() for v in checkpoint.load(run / "last.pt")["model"].values())


@pytest.mark.filterwarnings("ignore:precision='bf16' on a CPU without oneDNN bfloat16 kernels")
def test_bf16_autocast_trains_to_the_fp32_loss(tmp_path: Path) -> None:
    """The bf16 option is usable: after the smoke schedule its loss is within 5% of fp32's."""
    losses = {}
    for prec in ("fp32", "bf16"):
        cfg = config.schedule("smoke", model="rcan_s", precision=prec, val_every=0, updates=60, log_every=20,
                              ckpt_every=60)
        run = loop.train(cfg, tmp_path)
        losses[prec] = sum(r["loss"] for r in run.metrics[-2:]) / 2
    assert abs(losses["bf16"] - losses["fp32"]) <= 0.05 * losses["fp32"], losses


def test_bf16_on_a_cpu_without_bf16_kernels_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if platform.machine() == "x86_64":  # oneDNN's bf16 kernels need AVX-512 (BW, VL, DQ) or newer
        assert loop.cpu_has_bf16_kernels() == torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    cfg = config.schedule("smoke", model="rcan_s", precision="bf16", val_every=0, updates=2, log_every=1,
                          ckpt_every=2)
    monkeypatch.setattr(loop, "cpu_has_bf16_kernels", lambda: False)
    with pytest.warns(RuntimeWarning, match="without oneDNN bfloat16 kernels.*use precision='fp32'"):
        loop.train(cfg, tmp_path / "slow")
    monkeypatch.setattr(loop, "cpu_has_bf16_kernels", lambda: True)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*bfloat16 kernels")
        loop.train(cfg, tmp_path / "fast")


def test_finished_run_is_not_retrained_and_other_settings_are_refused(tmp_path: Path) -> None:
    cfg = config.schedule("smoke", model="rcan_s", updates=10, val_every=0, log_every=5, ckpt_every=5)
    first = loop.train(cfg, tmp_path)
    for runtime in ({"progress": True}, {"threads": 2}):  # runtime fields: the same run
        again = loop.train(dataclasses.replace(cfg, **runtime), tmp_path)
        assert again.summary == first.summary
    with pytest.raises(ValueError, match=r"lr: 0.001 -> 0.002"):
        loop.train(dataclasses.replace(cfg, lr=2e-3), tmp_path, name=first.name)


class _Flat(torch.utils.data.Dataset):
    """Constant grey patches: zero Hessian everywhere (the eigenvalue's sqrt at 0, Eq. 12)."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.full((3, 12, 12), 0.5), torch.full((3, 24, 24), 0.5)


def test_flat_images_train_without_nan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DeFiAN_S (MSHF on) on flat patches: every loss and every weight stays finite (Sec. IV-E)."""
    monkeypatch.setattr(loop, "_train_set", lambda cfg: (_Flat(), "flat", "flat grey patches"))
    cfg = config.schedule("smoke", model="defian_s", updates=6, log_every=1, ckpt_every=6, val_every=0)
    run = loop.train(cfg, tmp_path)
    assert run.summary["status"] == "finished" and len(run.metrics) == 6
    assert all(math.isfinite(r["loss"]) for r in run.metrics)
    assert all(torch.isfinite(v).all() for v in checkpoint.load(run.dir / "last.pt")["model"].values())


def test_fp16_needs_cuda_and_ema_is_checkpointed(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="precision='fp16' needs CUDA"):
            loop.train(config.schedule("smoke", precision="fp16", device="cpu"), tmp_path)
    cfg = config.schedule("smoke", model="rcan_s", updates=4, log_every=2, ckpt_every=4, val_every=4, ema=0.5)
    run = loop.train(cfg, tmp_path)
    ck = checkpoint.load(run.dir / "last.pt")
    assert ck["ema"] is not None and ck["ema"].keys() == ck["model"].keys()
    assert any(not torch.equal(ck["ema"][k], ck["model"][k]) for k in ck["model"])  # it lags the weights


def test_tensorboard_logs_what_metrics_csv_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    logged: list[tuple[str, float, int]] = []
    closed: list[Path] = []

    class Writer:  # stands in for torch.utils.tensorboard.SummaryWriter (TensorBoard is optional)
        def __init__(self, log_dir: str) -> None:
            self.log_dir = Path(log_dir)

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            logged.append((tag, float(value), step))

        def close(self) -> None:
            closed.append(self.log_dir)

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    cfg = config.schedule("smoke", model="rcan_s", updates=6, log_every=2, val_every=4, ckpt_every=6,
                          tensorboard=True)
    run = loop.train(cfg, tmp_path)
    rows = run_record.read_metrics(run.dir)
    assert [(t, s) for t, _, s in logged if t == "train/loss"] == [("train/loss", r["update"]) for r in rows]
    assert [v for t, v, _ in logged if t == "train/loss"] == pytest.approx([r["loss"] for r in rows])
    val = [(s, v) for t, v, s in logged if t == "val/psnr"]
    assert val == [(r["update"], pytest.approx(r["val_psnr"])) for r in rows if r["val_psnr"] is not None]
    assert [s for s, _ in val] == [4, 6] and closed == [run.dir / "tensorboard"]


def test_tensorboard_missing_is_said_and_training_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    cfg = config.schedule("smoke", model="rcan_s", updates=2, log_every=1, val_every=0, ckpt_every=2,
                          tensorboard=True)
    assert loop.train(cfg, tmp_path).summary["status"] == "finished"
    assert "--tensorboard ignored: TensorBoard is not installed" in capsys.readouterr().err
