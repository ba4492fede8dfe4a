"""defian.report.study: the cpu study's run list, its state and its published records."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from defian.report import evaluate, table_runs, study
from defian.train import checkpoint, config, run_record, loop
from defian.nn.model import make_config


# --- the run list ------------------------------------------------------------------------------------
def test_every_table_column_has_exactly_one_run() -> None:
    jobs = study.jobs()
    keys = [table_runs.attention_key(make_config(j.config.model, **j.config.switches)) for j in jobs
            if j.config.scale == study.ABLATION_SCALE]
    assert len(keys) == len(set(keys))  # no variant trained twice
    for which in ("III", "IV", "V"):
        for label, sw in table_runs.variants(which).items():
            key = table_runs.attention_key(make_config("defian_s", **{**config.CPU.switches, **sw}))
            hits = [j for j in jobs if j.config.scale == study.ABLATION_SCALE
                    and table_runs.attention_key(make_config("defian_s", **j.config.switches)) == key]
            assert len(hits) == 1, (which, label)
            assert f"Table {which} {label}" in (hits[0].label, *hits[0].also)
    # 8 + 6 new kernel sets + 9 new encoder-decoders, and 3 seeds of the pair
    assert len(keys) == 23 and len(jobs) == 23 + (2 + len(study.MSHF_VARIANTS)) * len(study.SEEDS)


def test_pair_runs_differ_only_in_the_model() -> None:
    pair = [j.config for j in study.jobs() if j.config.scale == study.PAIR_SCALE and "mshf_mode" not in j.config.switches]
    for seed in study.SEEDS:
        a, b = (c for c in pair if c.seed == seed)
        assert {a.model, b.model} == set(study.PAIR)
        assert dataclasses.replace(a, model=b.model) == b
        assert a.schedule == "cpu" and a.updates == config.CPU.updates


# --- state ---------------------------------------------------------------------------------------------
def test_status_names_each_jobs_state(tmp_path, write_record) -> None:
    by = {j.label: j.config for j in study.jobs()}
    write_record(tmp_path, by["x2 defian_s seed 2"], {"Set5": 40.0})
    write_record(tmp_path, by["Table III (b)"], {"Set5": 30.0}, finished=False, val=(30.0, 30.5))  # killed at 1000
    st = study.status(tmp_path).set_index("job")
    assert st.loc["x2 defian_s seed 2", "state"] == "finished" and st.loc["x2 rcan_s seed 2", "state"] == "missing"
    assert st.loc["Table III (b)", "state"] == "partial 1000/6000"


# --- publishing ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cfg = config.schedule("smoke", model="defian_s", updates=2, log_every=1, ckpt_every=2, val_every=0)
    return loop.train(cfg, tmp_path_factory.mktemp("runs"))


def test_publish_keeps_the_weights_and_drops_the_rest(tiny_run, tmp_path) -> None:
    data = tmp_path / "data" / "benchmark" / "Set5" / "HR"
    data.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(data / "a.png")
    evaluate.evaluate_run(tiny_run.dir, data_root=str(tmp_path / "data"), sets=["Set5"])
    tmp_path = tmp_path / "published"
    (tiny_run.dir / "best.pt").write_bytes(b"x")
    dest = study.publish(tiny_run.dir, tmp_path)
    assert dest == tmp_path / tiny_run.dir.name and not (dest / "best.pt").exists()
    assert not list(tmp_path.glob(".*"))  # no temporary folder left
    full = checkpoint.load(tiny_run.dir / "last.pt")
    slim = torch.load(dest / "last.pt", weights_only=True)
    assert set(slim) == {*checkpoint.SLIM_KEYS, "slim"} and "optimizer" in full
    assert all(torch.equal(slim["model"][k], v) for k, v in full["model"].items())
    x = torch.rand(1, 3, 10, 10)
    a, _ = evaluate.load_model(tiny_run.dir / "last.pt")
    b, info = evaluate.load_model(dest / "last.pt")
    assert torch.equal(a(x), b(x)) and info["update"] == 2
    assert (dest / "evaluation").is_dir() and run_record.read(dest).summary["status"] == "finished"


def test_publish_leaves_an_unchanged_record_alone_and_replaces_a_changed_one(tiny_run, tmp_path) -> None:
    data = tmp_path / "data" / "benchmark" / "Set5" / "HR"
    data.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(data / "a.png")
    evaluate.evaluate_run(tiny_run.dir, data_root=str(tmp_path / "data"), sets=["Set5"], force=True)
    dest = study.publish(tiny_run.dir, tmp_path / "published")
    (dest / "last.pt").write_bytes((dest / "last.pt").read_bytes() + b"marker")  # a copy would drop this
    assert study.publish(tiny_run.dir, tmp_path / "published") == dest
    assert (dest / "last.pt").read_bytes().endswith(b"marker")  # byte-identical record: not copied again
    (dest / "evaluation" / "stale.csv").write_text("x")  # the published copy differs from the run: replaced
    study.publish(tiny_run.dir, tmp_path / "published")
    assert not (dest / "evaluation" / "stale.csv").exists()
    assert not (dest / "last.pt").read_bytes().endswith(b"marker")


def test_publish_refuses_an_unfinished_or_unevaluated_run(tiny_run, tmp_path, write_record) -> None:
    cfg = dataclasses.replace(study.jobs()[0].config)
    run = write_record(tmp_path / "runs", cfg, {"Set5": 30.0}, finished=False)
    with pytest.raises(ValueError, match="has not finished"):
        study.publish(run, tmp_path / "out")
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in study.RECORD_FILES:
        (bare / f).write_bytes((tiny_run.dir / f).read_bytes())
    with pytest.raises(ValueError, match="no evaluation"):
        study.publish(bare, tmp_path / "out")


def test_training_refuses_to_resume_from_a_published_checkpoint(tiny_run, tmp_path) -> None:
    root = tmp_path / "runs"
    run = root / tiny_run.dir.name
    root.mkdir()
    checkpoint.slim(tiny_run.dir / "last.pt", root / "slim.pt")
    run.mkdir()
    (root / "slim.pt").rename(run / "last.pt")
    with pytest.raises(ValueError, match="weights only"):
        loop.train(config.TrainConfig.from_dict(run_record.read(tiny_run.dir).config), root)


def test_cli_prints_the_status_and_checks_the_worker(tmp_path, capsys) -> None:
    assert study.main(["--runs-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "x2 defian_s seed 0" in out and "Table V HGenDec d=4" in out and out.count("missing") == 35
    with pytest.raises(SystemExit):
        study.main(["--worker", "3/2", "--runs-root", str(tmp_path)])
    assert "--worker: expects I/K with 1 <= I <= K, got '3/2'" in capsys.readouterr().err


def test_a_fresh_runs_root_trains_only_what_is_not_published(tmp_path, monkeypatch, capsys,
                                                              write_record) -> None:
    by = {j.label: j for j in study.jobs()}
    published = tmp_path / "published"
    write_record(published, by["x2 defian_s seed 0"].config, {"Set5": 31.0})  # finished and evaluated
    write_record(published, by["x2 rcan_s seed 0"].config, {"Set5": 31.0}, finished=False)  # killed: train again
    trained = []
    monkeypatch.setattr(loop, "train", lambda cfg, root: trained.append(cfg) or None)  # None: "not rank 0"
    todo = [by["x2 defian_s seed 0"], by["x2 rcan_s seed 0"], by["Table III (a)"]]
    study._run_all(todo, tmp_path / "fresh", "", None, published)
    assert [c.model for c in trained] == ["rcan_s", "defian_s"] and trained[1].scale == study.ABLATION_SCALE
    assert f"x2 defian_s seed 0: done ({published}/" in capsys.readouterr().out  # skipped
    trained.clear()
    study._run_all(todo[:1], published, "", None, published)  # training into results/runs itself: no skip
    assert len(trained) == 1


def test_mshf_variant_runs_differ_from_the_pairs_defian_s_only_in_the_filters() -> None:
    """The MSHF question (deviations chapter): per seed, the frozen zero-bias DeFiAN_S of the pair and one
    run per released setting, identical but for ``mshf_mode``."""
    by = {j.label: j.config for j in study.jobs()}
    for seed in study.SEEDS:
        base = by[f"x2 defian_s seed {seed}"]
        for mode in study.MSHF_VARIANTS:
            cfg = by[f"x2 defian_s mshf {mode} seed {seed}"]
            assert dataclasses.replace(cfg, switches={**cfg.switches, "mshf_mode": "frozen"}) != cfg
            assert cfg.switches == {**base.switches, "mshf_mode": mode}
            assert dataclasses.replace(cfg, switches=base.switches) == base


def test_a_claim_is_held_once_and_a_dead_workers_claim_is_taken_over(tmp_path) -> None:
    """Workers sharing one job list (``--worker 1/1`` each) never run a job twice at once."""
    import subprocess
    import sys

    with study.claim(tmp_path, "x2 ikm seed 0") as mine:
        assert mine
        lock = tmp_path / study.CLAIMS / "x2_ikm_seed_0.lock"
        assert lock.read_text().split()[0] == str(__import__("os").getpid())
        with study.claim(tmp_path, "x2 ikm seed 0") as again:
            assert not again  # held by a live process (this one)
        with study.claim(tmp_path, "x2 ikm seed 1") as other:
            assert other
    assert not lock.exists()  # released
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(f"{dead.stdout.strip()} {__import__('socket').gethostname()}\n")  # its process has exited
    with study.claim(tmp_path, "x2 ikm seed 0") as mine:
        assert mine
    lock.write_text("1 some-other-machine\n")  # cannot be checked from here: respected
    with study.claim(tmp_path, "x2 ikm seed 0") as mine:
        assert not mine
    assert lock.exists()


def test_drive_skips_a_job_another_worker_holds(tmp_path, capsys) -> None:
    from types import SimpleNamespace

    jobs = [SimpleNamespace(label="a"), SimpleNamespace(label="b")]
    ran = []
    (tmp_path / study.CLAIMS).mkdir()
    (tmp_path / study.CLAIMS / "a.lock").write_text("1 some-other-machine\n")
    study.drive(jobs, "t", lambda j: None, lambda j: ran.append(j.label), claims=tmp_path)
    assert ran == ["b"] and "[t] a: another worker is running it, skipped" in capsys.readouterr().out
    assert not (tmp_path / study.CLAIMS / "b.lock").exists()


def test_only_picks_jobs_by_label_in_the_order_given_after_the_worker_slice() -> None:
    p = study.study_parser("defian study", "", "results/runs")
    labels = [j.label for j in study.jobs("cpu")]
    a = p.parse_args(["--only", "x2 defian_s seed 2", "x2 rcan_s seed 0"])
    assert [j.label for j in study.my_jobs(p, a, study.jobs("cpu"))] == ["x2 defian_s seed 2", "x2 rcan_s seed 0"]
    a = p.parse_args(["--worker", "2/2"])
    assert [j.label for j in study.my_jobs(p, a, study.jobs("cpu"))] == labels[1::2]
    a = p.parse_args(["--only", "no such job"])
    with pytest.raises(SystemExit):
        study.my_jobs(p, a, study.jobs("cpu"))


def test_publish_done_says_which_records_it_left_unchanged(tiny_run, tmp_path, capsys) -> None:
    data = tmp_path / "data" / "benchmark" / "Set5" / "HR"
    data.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(data / "a.png")
    evaluate.evaluate_run(tiny_run.dir, data_root=str(tmp_path / "data"), sets=["Set5"], force=True)
    study.publish_done([tiny_run, None], tmp_path / "published")
    study.publish_done([tiny_run], tmp_path / "published")
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("published ") and second.startswith("unchanged ")
    assert first.split(" ", 1)[1] == second.split(" ", 1)[1] == str(tmp_path / "published" / tiny_run.dir.name)
