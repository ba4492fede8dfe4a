"""Training: the schedule of Sec. IV-A, checkpoints, run records, several processes.

Modules:
    config: :class:`TrainConfig`, the schedules (smoke, cpu, short, full) and the command line.
    loop: the training loop (``defian train``, ``python -m defian.train``); its ``Session`` also runs
        Part III's LFR runs (:mod:`defian.lfr.train`).
    trainstate: what a resume restores (model, optimiser, scheduler, EMA, RNG).
    checkpoint: atomic checkpoint files.
    run_record: the run directory: configuration, environment, metrics, summary.
    distributed: DDP over NCCL (GPUs) or gloo (CPU).
    validation: the PSNR measured during training.
"""

from __future__ import annotations

from defian.train.config import TrainConfig as TrainConfig
from defian.train.loop import train as train
from defian.train.run_record import RunRecord as RunRecord

__all__ = ["TrainConfig", "train", "RunRecord"]
