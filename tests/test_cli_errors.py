"""Every `defian` command answers bad input with one line on stderr, status 2, no traceback, nothing written.

One parametrised sweep over book, train, evaluate, data, study and upscale (in-process through
`defian.cli.main`): corrupt checkpoints (truncated, random bytes), an unknown preset, profile,
notebook, protocol, device or choice, a data root whose set folder is empty, a non-image among
images, a read-only output folder. Plus Ctrl-C (status 130) and an unknown command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from defian import cli


@dataclass(frozen=True)
class Case:
    command: str
    args: Callable[[Path], list[str]]  # tmp folder -> arguments after the command
    says: str  # a part of the one line
    untouched: str | None = None  # a path (under tmp) that must not exist afterwards
    read_only: bool = False  # needs the read-only folder tmp/"ro"


T = "truncated.pt"
R = "random.pt"
CASES = {
    "book-unknown-profile": Case("book", lambda t: ["--profile", "huge", "--no-build"],
                                 "unknown profile 'huge'; choose one of smoke, cpu, short, full"),
    "book-unknown-notebook": Case("book", lambda t: ["--only", "99", "--no-build"],
                                  "unknown notebook '99'; choose from: 00_overview"),
    "book-missing-data-root": Case("book", lambda t: ["--data-root", str(t / "nowhere"), "--no-build"],
                                   "is not a folder"),
    "book-records-only-without-data": Case("book", lambda t: ["--records-only", "--no-build"],
                                           "--records-only needs the benchmark sets"),
    "train-unknown-preset": Case("train", lambda t: ["--model", "defian_xl"],
                                 "TrainConfig.model='defian_xl' is not valid (choose one of defian_s, defian_l, "
                                 "rcan_s, rcan_l"),  # then any registered model (defian.nn.model.register_model)
    "train-truncated-checkpoint": Case("train", lambda t: ["--schedule", "smoke", "--runs-root", str(t / "runs"),
                                                           "--name", "broken"],
                                       "runs/broken/last.pt' is not a readable PyTorch checkpoint"),
    "train-empty-set-folder": Case("train", lambda t: ["--schedule", "smoke", "--data-root", str(t / "empty"),
                                                       "--runs-root", str(t / "new-runs")],
                                   "no train images under", untouched="new-runs"),
    "train-read-only-runs-root": Case("train", lambda t: ["--schedule", "smoke", "--updates", "2", "--runs-root",
                                                          str(t / "ro")], "/ro/defian_s_x2", read_only=True),
    "evaluate-truncated-checkpoint": Case("evaluate", lambda t: ["--checkpoint", str(t / T), "--out", str(t / "e")],
                                          f"{T}' is not a readable PyTorch checkpoint", untouched="e"),
    "evaluate-random-bytes-checkpoint": Case("evaluate", lambda t: ["--checkpoint", str(t / R)],
                                             f"{R}' is not a readable PyTorch checkpoint"),
    "evaluate-empty-set-folder": Case("evaluate", lambda t: ["--bicubic", "--scales", "2", "--data-root",
                                                             str(t / "empty"), "--out", str(t / "e")],
                                      "no benchmark set (Set5, Set14, BSD100, Urban100, Manga109) under",
                                      untouched="e"),
    "evaluate-unknown-protocol": Case("evaluate", lambda t: ["--bicubic", "--protocol", "matlab"],
                                      "invalid choice: 'matlab' (choose from 'paper'"),
    "evaluate-read-only-out": Case("evaluate", lambda t: ["--bicubic", "--scales", "2", "--limit", "1",
                                                          "--out", str(t / "ro" / "e")], "/ro/e", read_only=True),
    "data-unknown-archive": Case("data", lambda t: ["download", "imagenet", "--root", str(t / "d")],
                                 "invalid choice: 'imagenet' (choose from 'benchmark', 'div2k'", untouched="d"),
    "data-read-only-root": Case("data", lambda t: ["download", "div2k", "--root", str(t / "ro" / "d")], "/ro/d",
                                read_only=True),
    "study-unknown-schedule": Case("study", lambda t: ["--schedule", "weekly"],
                                   "invalid choice: 'weekly' (choose from 'cpu', 'full'"),
    "study-bad-worker": Case("study", lambda t: ["--worker", "3/2", "--runs-root", str(t / "runs")],
                             "--worker: expects I/K with 1 <= I <= K, got '3/2'"),
    "ikm-study-unknown-schedule": Case("ikm-study", lambda t: ["--schedule", "weekly"],
                                       "invalid choice: 'weekly' (choose from 'cpu', 'full'"),
    "ikm-study-bad-worker": Case("ikm-study", lambda t: ["--worker", "0/2", "--runs-root", str(t / "new-runs")],
                                 "--worker: expects I/K with 1 <= I <= K, got '0/2'", untouched="new-runs"),
    "upscale-truncated-checkpoint": Case("upscale", lambda t: ["a.png", "--checkpoint", str(t / T), "-o",
                                                               str(t / "u")],
                                         f"{T}' is not a readable PyTorch checkpoint", untouched="u"),
    "upscale-random-bytes-checkpoint": Case("upscale", lambda t: ["a.png", "--checkpoint", str(t / R), "-o",
                                                                  str(t / "u")],
                                            f"{R}' is not a readable PyTorch checkpoint", untouched="u"),
    "upscale-non-image-among-images": Case("upscale", lambda t: [str(t / "a.png"), str(t / "notes.txt"),
                                                                 "--checkpoint", str(t / "tiny.pt"), "-o",
                                                                 str(t / "u")],
                                           "notes.txt: not a readable PNG/JPEG/BMP/TIFF image", untouched="u"),
    "upscale-read-only-out": Case("upscale", lambda t: [str(t / "a.png"), "--checkpoint", str(t / "tiny.pt"),
                                                        "-o", str(t / "ro")], "/ro", read_only=True),
    "upscale-unknown-device": Case("upscale", lambda t: [str(t / "a.png"), "--checkpoint", str(t / "tiny.pt"),
                                                         "--device", "tpu", "-o", str(t / "u")],
                                   "unknown device 'tpu'; choose auto, cpu, cuda or cuda:N", untouched="u"),
    "upscale-no-output-folder": Case("upscale", lambda t: [str(t / "a.png"), "--checkpoint", str(t / "tiny.pt")],
                                     "the following arguments are required: -o/--out"),
}


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    """Corrupt checkpoints, a tiny valid one, empty data roots, an image and a text file."""
    from defian.nn.model import build_model
    from defian.train import checkpoint
    from defian.train.config import TrainConfig

    rng = np.random.default_rng(0)
    (tmp_path / R).write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    torch.save({"model": torch.zeros(1000)}, tmp_path / "full.pt")
    (tmp_path / T).write_bytes((tmp_path / "full.pt").read_bytes()[:600])
    (tmp_path / "runs" / "broken").mkdir(parents=True)
    shutil.copy(tmp_path / T, tmp_path / "runs" / "broken" / "last.pt")
    tiny = {"n_modules": 1, "n_blocks": 1, "channels": 8}
    cfg = TrainConfig(model="defian_s", scale=2, switches=tiny, schedule="smoke", updates=1)
    torch.save({"format": checkpoint.FORMAT, "update": 1, "model": build_model("defian_s", 2, **tiny).state_dict(),
                "ema": None, "best": {}, "config": cfg.to_dict()}, tmp_path / "tiny.pt")
    for folder in ("empty/DIV2K_train_HR", "empty/benchmark/Set5/HR"):
        (tmp_path / folder).mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


@pytest.fixture()
def read_only(tmp_path: Path):
    """tmp/"ro", a folder nobody can write into (chmod for a user; root needs chattr +i)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    undo: list[str] | None = None
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root, which ignores permissions, and chattr +i is not available")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
    try:
        try:
            (folder / "probe").write_text("x")
        except OSError:
            pass
        else:
            pytest.skip("this file system lets the folder be written")
        yield folder
    finally:
        if undo:
            subprocess.run(undo, check=True)
        folder.chmod(0o755)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_status_2(name: str, inputs: Path, request: pytest.FixtureRequest,
                                            capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    case = CASES[name]
    if case.read_only:
        request.getfixturevalue("read_only")
    monkeypatch.chdir(inputs)
    monkeypatch.delenv("DEFIAN_TRACEBACK", raising=False)
    monkeypatch.delenv("DEFIAN_DATA", raising=False)
    status = cli.main([case.command, *case.args(inputs)])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"defian {case.command}"), err
    assert case.says in lines[0]
    assert "Traceback" not in out + err
    if case.untouched:
        assert not (inputs / case.untouched).exists()


def test_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["upscal"]) == 2
    assert capsys.readouterr().err.strip() == ("defian: unknown command 'upscal'; choose one of book, train, "
                                               "evaluate, data, study, upscale, lfr-study, ikm-study")


def test_python_dash_m_defian_is_the_defian_command() -> None:
    """``python -m defian`` (defian/__main__.py) dispatches as the console script does, exit status included."""
    ok = subprocess.run([sys.executable, "-m", "defian", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "usage: defian <command>" in ok.stdout and "upscale" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "defian", "nosuch"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("defian: unknown command 'nosuch'")


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys: pytest.CaptureFixture[str]) -> None:
    from defian.report import evaluate

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "evaluate", interrupt)
    assert cli.main(["evaluate", "--bicubic", "--scales", "2"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["defian evaluate: interrupted (Ctrl-C)"]


def test_traceback_on_request(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEFIAN_TRACEBACK", "1")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        cli.main(["upscale", "a.png", "--checkpoint", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "u")])


def test_argparse_is_restored_after_a_command() -> None:
    import argparse

    original = argparse.ArgumentParser.error
    cli.main(["study", "--worker", "0/1"])
    assert argparse.ArgumentParser.error is original


@pytest.mark.parametrize("entry", [["defian", "train"], ["-m", "defian.train"]], ids=["defian train", "python -m"])
def test_registered_families_reach_every_command(tmp_path: Path, entry: list[str]) -> None:
    """`--model uhdn_cpu` works from both entry points: the training config imports the model families."""
    start = [str(Path(sys.executable).with_name("defian")), "train"] if entry[0] == "defian" else [sys.executable, *entry]
    cmd = [*start, "--schedule", "full", "--model", "uhdn_cpu",
           "--updates", "1", "--batch", "2", "--patch", "8", "--val-every", "0", "--no-progress", "--threads", "1",
           "--data-root", "", "--runs-root", str(tmp_path / "runs")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [config] = (tmp_path / "runs").glob("*/config.json")
    assert '"model": "uhdn_cpu"' in config.read_text()
