"""README's measured figures are the committed records' (README cannot glue, so this test holds them).

README says "measured from the committed records ...: A-B min of one core per run, C on average;
D h of one core in all, about E h with two workers" and "from N runs of the `cpu` schedule";
each is recomputed here from ``results/runs`` (:attr:`defian.train.run_record.Run.wall_s`, the sum
over a run's training processes) and must match to the rounding README prints.
"""

from __future__ import annotations

import re

from defian import paths
from defian.train import run_record

README = (paths.ROOT / "README.md").read_text()
TIMES = re.compile(r"(\d+)-(\d+) min of one core per run, (\d+) on average;\s+([\d.]+) h of one core in all, "
                   r"about (\d+) h\s+with two workers")


def test_readme_cpu_study_times_are_the_records() -> None:
    m = TIMES.search(README)
    assert m, "README no longer states the cpu study's measured times in the form this test reads"
    lo, hi, mean, core_h, two_h = int(m[1]), int(m[2]), int(m[3]), float(m[4]), int(m[5])
    runs = run_record.find(paths.RUNS, schedule="cpu")
    minutes = [r.wall_s / 60 for r in runs]
    hours = sum(minutes) / 60
    assert (lo, hi, mean) == (round(min(minutes)), round(max(minutes)), round(sum(minutes) / len(minutes)))
    assert core_h == round(hours, 1) and two_h == round(hours / 2)


def test_readme_cpu_study_run_count_is_the_records() -> None:
    m = re.search(r"from (\d+) runs of the `cpu` schedule", README)
    assert m and int(m[1]) == len(run_record.find(paths.RUNS, schedule="cpu"))


def test_readme_no_longer_says_the_old_times() -> None:
    for old in ("about two hours", "half an hour", "about eight hours"):
        assert old not in README, old


def test_readme_publish_time_is_the_record() -> None:
    """"It took N min on two cores (`results/bench/publish_wall.json`)": that file's wall time, in minutes."""
    import json

    m = re.search(r"It took (\d+) min on two cores\s+\(`results/bench/publish_wall.json`\)", README)
    assert m, "README no longer states make publish's measured wall time in the form this test reads"
    record = json.loads((paths.RESULTS / "bench" / "publish_wall.json").read_text())
    assert int(m[1]) == round(record["wall_s"] / 60)
    assert record["notebooks_total_s"] == round(sum(record["notebooks_s"].values()), 1) <= record["wall_s"]


#: The label of the CUDA-only paths, and what each place that carries it must list under it.
GPU_LABEL = "**Written for CUDA, not yet run on a GPU.**"
GPU_PATHS = ("NCCL", "DDP with `device_ids`", "fp16 autocast with a GradScaler", "pinned memory", "CUDA peak memory",
             "CUDA RNG state", "`benchmarks/bench_train.py --device cuda`")


def test_gpu_paths_keep_their_not_yet_run_label() -> None:
    """README, book/running.md and notebook 07 each say the CUDA paths were never run on a GPU, and name
    every one of them between that label and "What has run" (the CPU counterparts); until a GPU runs
    them, a place that drops the label or a path fails here."""
    notebook, = paths.ROOT.glob("notebooks/07_*.py")
    for path in (paths.ROOT / "README.md", paths.ROOT / "book" / "running.md", notebook):
        text = path.read_text()
        if path.suffix == ".py":  # the notebook's markdown cells are comments
            text = "\n".join(line.removeprefix("#").removeprefix(" ") for line in text.splitlines())
        text = " ".join(text.split())
        assert text.count(GPU_LABEL) == 1, f"{path.name} no longer labels its CUDA paths {GPU_LABEL!r}"
        start = text.index(GPU_LABEL)
        end = text.find("What has run", start)
        assert end > start, f"{path.name}: no 'What has run' after the label"
        block = text[start:end]
        missing = [p for p in GPU_PATHS if p not in block]
        assert not missing, f"{path.name}: the label no longer covers {missing}"
