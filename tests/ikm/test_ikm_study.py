"""defian.ikm.study and defian.ikm.trainable: the jobs, U-HDN through the real trainer, records, resume, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import torch

from defian.ikm import study, trainable
from defian.ikm.operator import IKMConv2d, IKMError
from defian.nn.model import PRESETS, REGISTERED, build_model, register_model
from defian.train import config, loop, run_record

DIFFERENT = ("seed", "switches", "batch")  # what may differ between two jobs


def _diff(a: study.Job, b: study.Job) -> dict[str, tuple]:
    da, db = a.config.to_dict(), b.config.to_dict()
    return {k: (da[k], db[k]) for k in da if da[k] != db[k]}


def test_the_jobs() -> None:
    jobs = study.jobs("cpu")
    labels = [j.label for j in jobs]
    assert labels == ["x2 vanilla seed 0", "x2 ikm seed 0", "x2 vanilla seed 1", "x2 ikm seed 1", "x2 vanilla seed 2",
                      "x2 ikm seed 2", "x2 ca seed 0", "x2 sa seed 0", "x2 ikm go B16 seed 0",
                      "x2 ikm iso B4 seed 0", "x2 ikm go B4 seed 0"]
    assert jobs[1].also == ("x2 ikm iso B16 seed 0",)  # IsO at batch 16 is the IKM seed-0 run, trained once
    assert {(j.attention, j.config.seed) for j in jobs[:6]} == {(a, s) for a in ("vanilla", "ikm") for s in (0, 1, 2)}
    for j in jobs:  # the cpu schedule's budget, the study's backbone
        assert (j.config.model, j.config.scale, j.config.schedule) == ("uhdn_cpu", 2, "cpu")
        assert (j.config.updates, j.config.patch, j.config.lr, j.config.lr_step) == (6_000, 24, 2e-4, 2_500)
    assert study.BATCHES == (16, 4) and {j.config.batch for j in jobs} == {16, 4}
    by = {j.label: j for j in jobs}
    # pairs that differ only in the attention switch
    for s in (0, 1, 2):
        assert _diff(by[f"x2 vanilla seed {s}"], by[f"x2 ikm seed {s}"]) == {
            "switches": ({"attention": "vanilla"}, {"attention": "ikm"})}
    for a in ("ca", "sa"):
        assert _diff(by["x2 vanilla seed 0"], by[f"x2 {a} seed 0"]) == {
            "switches": ({"attention": "vanilla"}, {"attention": a})}
    # IsO against GO: only the optimization; the two batch sizes: only the batch
    assert _diff(by["x2 ikm iso B4 seed 0"], by["x2 ikm go B4 seed 0"]) == {
        "switches": ({"attention": "ikm", "optimization": "iso"}, {"attention": "ikm", "optimization": "go"})}
    assert _diff(by["x2 ikm go B16 seed 0"], by["x2 ikm go B4 seed 0"]) == {"batch": (16, 4)}
    assert all(set(_diff(a, b)) <= set(DIFFERENT) for a in jobs for b in jobs)
    # the cost in DeFiAN_S runs, on ratios with a known answer: 11 jobs, 3 of them IKM IsO at batch 16
    assert study.cost({k: 1.0 for k in study.COST_KINDS}) == len(jobs) == 11
    assert study.cost({k: float(k == ("ikm", "iso", 16)) for k in study.COST_KINDS}) == len(study.SEEDS)
    measured = study.measured_cost()  # the committed record (results/bench/ikm_study_cost.csv)
    assert set(measured) == set(study.COST_KINDS) and all(0 < r < 5 for r in measured.values())
    # two workers split them: every job exactly once
    assert sorted(j.label for w in (0, 1) for j in jobs[w::2]) == sorted(labels)


def test_smoke_jobs_are_tiny_and_records_go_under_ikm() -> None:
    jobs = study.jobs("smoke")
    assert len(jobs) == 11 and study.batches("smoke") == (4, 2)
    assert all(j.config.switches.items() >= study.SMOKE_SWITCHES.items() for j in jobs)
    assert study.ikm_root("cpu").parts[-3:] == ("results", "runs", "ikm")
    assert study.ikm_root("smoke").parts[-3:] == ("_build", "runs", "ikm")


def test_unknown_names_are_named_errors() -> None:
    with pytest.raises(IKMError, match=r"attention='cbam' is not one of \('vanilla', 'ca', 'sa', 'ikm'\)"):
        study.job("cpu", "cbam")
    with pytest.raises(IKMError, match=r"optimization='sgd' is not one of \('iso', 'go'\)"):
        study.job("cpu", "ikm", optimization="sgd")
    with pytest.raises(IKMError, match="attention='se' is not one of"):
        build_model("uhdn_cpu", 2, attention="se")  # through the registry, as the trainer builds it
    with pytest.raises(IKMError, match=r"unknown switch\(es\) \['n_modules'\] for 'uhdn_cpu'"):
        build_model("uhdn_cpu", 2, n_modules=3)
    with pytest.raises(ValueError, match="unknown model 'uhdn_xl'; choose one of defian_l, defian_s, rcan_l, rcan_s, "
                                         "uhdn"):
        build_model("uhdn_xl", 2)
    with pytest.raises(ValueError, match=r"TrainConfig.model='uhdn_xl' is not valid \(choose one of defian_s, "
                                         r"defian_l, rcan_s, rcan_l, uhdn, uhdnl, uhdn_cpu"):
        config.schedule("smoke", model="uhdn_xl")
    with pytest.raises(ValueError, match="'defian_s' is a DeFiAN preset"):
        register_model("defian_s", trainable.build)


def test_the_registered_backbone() -> None:
    assert {"uhdn", "uhdnl", "uhdn_cpu"} <= set(REGISTERED) and not set(REGISTERED) & set(PRESETS)
    torch.manual_seed(0)
    net = build_model("uhdn_cpu", 2, attention="ikm")
    assert sum(p.numel() for p in net.parameters()) == 168_963  # the study's docstring
    convs = [m for m in net.modules() if isinstance(m, IKMConv2d) and m.modulate]
    assert len(convs) == 22 and all(c.optimization == "iso" for c in convs)  # every dense layer, depths 6+5+5+6
    go = build_model("uhdn_cpu", 2, attention="ikm", optimization="go", depths=[6, 5, 5, 6])  # JSON list as recorded
    assert all(m.optimization == "go" for m in go.modules() if isinstance(m, IKMConv2d))
    # mean-shifted: a constant image at the mean RGB goes in as zeros
    x = net.rgb_mean.expand(1, 3, 6, 6).clone()
    with torch.no_grad():
        torch.testing.assert_close(net(x), super(trainable.MeanShiftedUHDN, net).forward(torch.zeros_like(x))
                                   + net.rgb_mean)


def _smoke_job(attention: str = "ikm", **changes) -> study.Job:
    j = study.job("smoke", attention)
    return dataclasses.replace(j, config=dataclasses.replace(j.config, updates=10, val_every=10, ckpt_every=5,
                                                             log_every=5, **changes))


def test_a_smoke_run_trains_through_the_trainer_and_find_run_matches_it(tmp_path: Path) -> None:
    j = _smoke_job()
    run = loop.train(j.config, tmp_path)
    assert run.summary["status"] == "finished" and run.summary["updates"] == 10
    assert run.config["model"] == "uhdn_cpu" and run.config["switches"]["attention"] == "ikm"
    have = study.records([tmp_path], "smoke")
    assert study.find_run(j, have).dir == run.dir
    spelled = dataclasses.replace(j, config=dataclasses.replace(j.config, switches={**j.config.switches,
                                                                                   "optimization": "iso"}))
    assert study.find_run(spelled, have).dir == run.dir  # the same network, spelled out
    assert study.find_run(_smoke_job("vanilla"), have) is None
    assert study.find_run(_smoke_job(batch=2), have) is None
    assert not study.is_done(run)  # finished, not evaluated
    st = study.status("smoke", [tmp_path])
    assert st.loc[st["job"] == "x2 ikm seed 0", "state"].item() == "missing"  # the 10-update run is not the job's


def test_a_resumed_run_repeats_the_uninterrupted_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _smoke_job().config
    ref = loop.train(cfg, tmp_path / "ref")

    class Cut(Exception):
        pass

    real, calls = loop.forward_backward, []

    def cut_after_five(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # update 5 is done and checkpointed
            raise Cut
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "forward_backward", cut_after_five)
    with pytest.raises(Cut):
        loop.train(cfg, tmp_path / "cut")
    monkeypatch.setattr(loop, "forward_backward", real)
    resumed = loop.train(cfg, tmp_path / "cut")
    assert resumed.summary["resumed_from"] == 5
    assert [r["loss"] for r in resumed.metrics] == [r["loss"] for r in ref.metrics]  # exact
    a, b = (torch.load(r.dir / "last.pt", weights_only=True)["model"] for r in (ref, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_statistics_from_synthetic_scores() -> None:
    rows = [{"job": "j", "attention": a, "optimization": "iso", "batch": 16, "seed": s, "set": st, "psnr": v,
             "ssim": 0.9, "minutes": 1.0, "params": 1}
            for st in ("Set5", "Set14")
            for a, vals in (("vanilla", (36.0, 36.1, 35.9)), ("ikm", (36.1, 36.3, 35.95)))
            for s, v in enumerate(vals)]
    rows.append({**rows[0], "attention": "ikm", "optimization": "go", "psnr": 99.0})  # not a seed-pair run
    g = study.paired_gains(pd.DataFrame(rows)).set_index("set")
    d = pd.Series([0.1, 0.2, 0.05])
    assert g.loc["Set5", "seeds"] == 3 and g.loc["Set5", "mean gain"] == pytest.approx(d.mean())
    assert g.loc["Set5", "sd gain"] == pytest.approx(d.std(ddof=1))
    assert g.loc["Set5", "ci low"] < g.loc["Set5", "mean gain"] < g.loc["Set5", "ci high"]
    assert study.noise(pd.DataFrame(rows)) == pytest.approx(d.std(ddof=1))
    assert study.paired_gains(study.results("cpu", [Path("/nonexistent")])).empty


def test_the_command_lists_the_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert study.main(["--schedule", "smoke", "--runs-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "x2 ikm go B2 seed 0" in out and "missing" in out
    with pytest.raises(SystemExit):
        study.main(["--worker", "3/2"])
    assert isinstance(study.jobs("smoke")[0].config, config.TrainConfig)
    assert run_record.find(tmp_path) == []  # listing writes nothing


def test_run_skips_evaluated_records_trains_the_rest_and_publishes_them(tmp_path, monkeypatch, capsys,
                                                                       write_record) -> None:
    """``--run`` through the studies' shared driver (defian.report.study.drive, train_fixed): a job with a
    finished, evaluated record is skipped; the others are trained, scored and published; a ``--limit``
    check is trained but never published; ``--publish`` alone copies what is done."""
    from defian.report import evaluate
    from defian.report import study as cpu_study

    todo, root, dest = study.jobs("cpu")[:3], tmp_path / "runs", tmp_path / "published"
    monkeypatch.setattr(study, "ikm_root", lambda schedule="cpu": dest)
    write_record(root, todo[0].config, {"Set5": 30.0})
    trained, scored, published = [], [], []

    def fake_train(cfg: config.TrainConfig, runs_root: Path) -> run_record.Run:
        trained.append(cfg)
        return run_record.read(write_record(runs_root, cfg, {"Set5": 31.0}))

    monkeypatch.setattr(loop, "train", fake_train)
    monkeypatch.setattr(evaluate, "evaluate_run", lambda run_dir, **kw: scored.append(kw["limit"]))
    monkeypatch.setattr(cpu_study, "publish", lambda run_dir, to: published.append(Path(run_dir).name) or to)
    study._run_jobs(todo[:2], root, "", dest, None)
    assert [c.to_dict() for c in trained] == [todo[1].config.to_dict()] and scored == [None]
    assert published == [run_record.run_name(todo[1].config.to_dict(), "train291")]
    assert f"{todo[0].label}: done ({root}/" in capsys.readouterr().out
    trained.clear(), published.clear()
    study._run_jobs(todo[2:], root, "", dest, 1)  # a check on one image per set
    assert len(trained) == 1 and scored[-1] == 1 and published == []
    monkeypatch.setattr(study.paths, "RUNS", dest.parent)  # --publish alone: into <RUNS>/ikm
    assert study.main(["--publish", "--runs-root", str(root)]) == 0
    assert len(published) == 3  # every finished, evaluated record under root
