"""defian.study: the cpu study's run list, its published records and the seed statistics."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from defian import checkpoint, config, evaluate, records, runrecord, study, train
from defian.atomic import write_atomic
from defian.model import make_config


# --- the run list ------------------------------------------------------------------------------------
def test_every_table_column_has_exactly_one_run() -> None:
    jobs = study.jobs()
    keys = [records.attention_key(make_config(j.config.model, **j.config.switches)) for j in jobs
            if j.config.scale == study.ABLATION_SCALE]
    assert len(keys) == len(set(keys))  # no variant trained twice
    for which in ("III", "IV", "V"):
        for label, sw in records.variants(which).items():
            key = records.attention_key(make_config("defian_s", **{**config.CPU.switches, **sw}))
            hits = [j for j in jobs if j.config.scale == study.ABLATION_SCALE
                    and records.attention_key(make_config("defian_s", **j.config.switches)) == key]
            assert len(hits) == 1, (which, label)
            assert f"Table {which} {label}" in (hits[0].label, *hits[0].also)
    # 8 + 6 new kernel sets + 9 new encoder-decoders, and 3 seeds of the pair
    assert len(keys) == 23 and len(jobs) == 23 + 2 * len(study.SEEDS)


def test_pair_runs_differ_only_in_the_model() -> None:
    pair = [j.config for j in study.jobs() if j.config.scale == study.PAIR_SCALE]
    for seed in study.SEEDS:
        a, b = (c for c in pair if c.seed == seed)
        assert {a.model, b.model} == set(study.PAIR)
        assert dataclasses.replace(a, model=b.model) == b
        assert a.schedule == "cpu" and a.updates == config.CPU.updates


# --- statistics ----------------------------------------------------------------------------------------
def test_summary_is_the_student_t_interval() -> None:
    g = pd.DataFrame({"seed": [0, 1, 2], "set": "Set5", "defian_s": [30.1, 30.3, 30.5],
                      "rcan_s": [30.0, 30.1, 30.2]})
    g["gain"] = g["defian_s"] - g["rcan_s"]  # 0.1, 0.2, 0.3
    s = study.summarize(g).iloc[0]
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2 dof), from printed tables
    assert s["seeds"] == 3 and s["mean gain"] == pytest.approx(0.2) and s["sd gain"] == pytest.approx(0.1)
    assert (s["ci low"], s["ci high"]) == (pytest.approx(0.2 - half), pytest.approx(0.2 + half))
    assert s["sd defian_s"] == pytest.approx(0.2) and s["sd rcan_s"] == pytest.approx(0.1)


@pytest.mark.parametrize(("low", "high", "seeds", "want"), [
    (0.01, 0.2, 3, "supported"), (-0.2, -0.01, 3, "contradicted"), (-0.1, 0.2, 3, "not resolved"),
    (0.1, 0.2, 1, "not resolved (one seed: no spread)")])
def test_verdict_needs_the_whole_interval_on_one_side(low, high, seeds, want) -> None:
    assert study.verdict(pd.Series({"ci low": low, "ci high": high, "seeds": seeds})) == want


def test_seeds_needed_inverts_the_standard_error() -> None:
    assert study.seeds_needed(0.1, 0.2) == 1  # 2 * 0.1 / sqrt(1) = 0.2
    assert study.seeds_needed(0.1, 0.05) == 16  # 2 * 0.1 / sqrt(16) = 0.05
    assert study.seeds_needed(0.1, 0.049) == 17
    with pytest.raises(ValueError, match="positive difference"):
        study.seeds_needed(0.1, 0.0)


def _record(root, cfg: config.TrainConfig, scores: dict[str, float], finished: bool = True,
            val: tuple[float, ...] = ()):
    run = root / runrecord.run_name(cfg.to_dict(), "train291")
    rec = runrecord.RunRecord(run)
    rec.start(cfg.to_dict(), {})
    for i, v in enumerate(val):
        rec.append(500 * (i + 1), 0.1, 1e-4, v, 10.0)
    if finished:
        rec.finish({"status": "finished", "updates": cfg.updates})
    per_set = pd.DataFrame([{"method": cfg.model, "set": s, "scale": cfg.scale, "images": 1, "psnr": p,
                             "ssim": 0.9, "protocol": "paper", "self_ensemble": False, "tile": 0, "data": "x"}
                            for s, p in scores.items()])
    out = evaluate.evaluation_dir(run)
    write_atomic(out / "per_set.csv", per_set.to_csv(index=False))
    write_atomic(out / "per_image.csv", per_set[["method", "set", "scale", "psnr", "ssim"]].assign(image="a")
                 .to_csv(index=False))
    write_atomic(out / "evaluation.json", '{"update": %d, "limit": null}' % cfg.updates)
    return run


def test_paired_gains_pair_models_by_seed(tmp_path) -> None:
    by = {j.label: j.config for j in study.jobs()}
    _record(tmp_path, by["x2 defian_s seed 0"], {"Set5": 31.0, "Set14": 29.0}, val=(30.0, 31.0))
    _record(tmp_path, by["x2 rcan_s seed 0"], {"Set5": 30.75, "Set14": 29.5}, val=(30.5, 30.75))
    _record(tmp_path, by["x2 defian_s seed 1"], {"Set5": 31.5, "Set14": 29.0})
    _record(tmp_path, by["x2 rcan_s seed 1"], {"Set5": 31.0, "Set14": 28.0})
    _record(tmp_path, by["x2 defian_s seed 2"], {"Set5": 40.0})  # no twin at seed 2: left out
    g = study.paired_gains(tmp_path)
    assert sorted(g["seed"].unique()) == [0, 1]
    got = {(r.seed, r.set): r.gain for r in g.itertuples()}
    assert got == {(0, "Set5"): 0.25, (0, "Set14"): -0.5, (1, "Set5"): 0.5, (1, "Set14"): 1.0}
    img = study.image_gains(tmp_path)  # one image "a" per set in these records
    assert {(r.seed, r.set, r.image): r.gain for r in img.itertuples()} == {
        (0, "Set5", "a"): 0.25, (0, "Set14", "a"): -0.5, (1, "Set5", "a"): 0.5, (1, "Set14", "a"): 1.0}
    losses = study.final_losses(tmp_path, last=6000).set_index("seed")  # every logged loss is 0.1
    assert losses.loc[0, "ratio"] == pytest.approx(1.0) and np.isnan(losses.loc[1, "defian_s"])
    gaps = study.validation_gaps(tmp_path)
    assert list(gaps.index) == [500, 1000] and list(gaps["seed 0"]) == [-0.5, 0.25]
    assert gaps["seed 1"].isna().all()  # seed 1 logged no validation
    noise = study.paired_noise(tmp_path)  # Set5 gains 0.25 and 0.5
    assert noise == pytest.approx(np.std([0.25, 0.5], ddof=1))
    close = study.single_runs(pd.Series({"(a)": 32.0, "(b)": 32.1, "(c)": None}), tmp_path)
    assert close.startswith("2 single runs span 0.100 dB (highest (b), lowest (a))")
    assert f"2 sd = {2 * noise:.3f} dB on Set5, so these differences are not a ranking" in close
    assert study.single_runs(pd.Series({"(a)": 32.0, "(b)": 32.5}), tmp_path).endswith("more than noise")
    assert study.single_runs(pd.Series({"(a)": None}), tmp_path) == "no measured run"
    assert study.single_runs(pd.Series({"(a)": 32.0}), tmp_path).startswith("one single run ((a)), nothing to")
    assert study.single_runs(pd.Series({"(a)": 1.0}), tmp_path / "none").endswith("is not measured yet")
    _record(tmp_path, by["Table III (b)"], {"Set5": 30.0}, finished=False, val=(30.0, 30.5))  # killed at 1000
    st = study.status(tmp_path).set_index("job")
    assert st.loc["x2 defian_s seed 2", "state"] == "finished" and st.loc["x2 rcan_s seed 2", "state"] == "missing"
    assert st.loc["Table III (b)", "state"] == "partial 1000/6000"


def test_attention_activity_rebuilds_the_initial_network_as_training_did(tmp_path) -> None:
    by = {j.label: j.config for j in study.jobs()}
    cfg = by["x2 defian_s seed 1"]
    run = _record(tmp_path, cfg, {"Set5": 31.0})
    _record(tmp_path, by["x2 rcan_s seed 1"], {"Set5": 31.0})
    net = train._build(cfg, torch.device("cpu"))  # the network update 0 starts from
    torch.save({"format": checkpoint.FORMAT, "update": 0, "model": net.state_dict(), "ema": None, "best": None,
                "config": cfg.to_dict(), "slim": True}, run / "last.pt")  # as published (checkpoint.slim)
    act = study.attention_activity(tmp_path)
    assert list(act["seed"].unique()) == [1] and len(act) == 6 and act.attrs["image"]  # 3 DeFiAMs x init/trained
    init, trained = (act[act.when == w].set_index("DeFiAM").drop(columns="when") for w in ("init", "trained"))
    pd.testing.assert_frame_equal(init, trained, rtol=1e-5)  # "trained" is the saved update-0 network
    assert ((init.decoder_active >= 0) & (init.decoder_active <= 1)).all()


# --- publishing ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cfg = config.schedule("smoke", model="defian_s", updates=2, log_every=1, ckpt_every=2, val_every=0)
    return train.train(cfg, tmp_path_factory.mktemp("runs"))


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
    assert (dest / "evaluation").is_dir() and runrecord.read(dest).summary["status"] == "finished"


def test_publish_refuses_an_unfinished_or_unevaluated_run(tiny_run, tmp_path) -> None:
    cfg = dataclasses.replace(study.jobs()[0].config)
    run = _record(tmp_path / "runs", cfg, {"Set5": 30.0}, finished=False)
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
        train.train(config.TrainConfig.from_dict(runrecord.read(tiny_run.dir).config), root)


def test_cli_prints_the_status_and_checks_the_worker(tmp_path, capsys) -> None:
    assert study.main(["--runs-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "x2 defian_s seed 0" in out and "Table V HGenDec d=4" in out and out.count("missing") == 29
    with pytest.raises(SystemExit):
        study.main(["--worker", "3/2", "--runs-root", str(tmp_path)])
    assert "--worker expects I/K with 1 <= I <= K, got '3/2'" in capsys.readouterr().err


def test_a_fresh_runs_root_trains_only_what_is_not_published(tmp_path, monkeypatch, capsys) -> None:
    by = {j.label: j for j in study.jobs()}
    published = tmp_path / "published"
    _record(published, by["x2 defian_s seed 0"].config, {"Set5": 31.0})  # finished and evaluated
    _record(published, by["x2 rcan_s seed 0"].config, {"Set5": 31.0}, finished=False)  # killed: train again
    trained = []
    monkeypatch.setattr(train, "train", lambda cfg, root: trained.append(cfg) or None)  # None: "not rank 0"
    todo = [by["x2 defian_s seed 0"], by["x2 rcan_s seed 0"], by["Table III (a)"]]
    study._run_all(todo, tmp_path / "fresh", "", None, published)
    assert [c.model for c in trained] == ["rcan_s", "defian_s"] and trained[1].scale == study.ABLATION_SCALE
    assert f"x2 defian_s seed 0: published in {published}, skipped" in capsys.readouterr().out
    trained.clear()
    study._run_all(todo[:1], published, "", None, published)  # training into results/runs itself: no skip
    assert len(trained) == 1


def test_table_spreads_compare_single_runs_with_the_papers_columns(tmp_path) -> None:
    by = {name: j.config for j in study.jobs() for name in (j.label, *j.also)}
    _record(tmp_path, by["Table III (a)"], {"Set5": 32.0})  # also Table IV "w/o HF"
    _record(tmp_path, by["Table III (b)"], {"Set5": 32.1})  # also Table IV ker=(3,5,7)
    _record(tmp_path, by["Table IV ker=(7)"], {"Set5": 31.95})
    _record(tmp_path, by["Table III (c)"], {"Set5": 40.0}, finished=False)  # not finished: not counted
    sp = study.table_spreads(tmp_path).set_index("table")
    assert list(sp.index) == ["Table III", "Table IV", "Table V"]
    assert sp.loc["Table III", ["variants", "measured"]].tolist() == [8, 2]
    assert sp.loc["Table III", "span ours"] == pytest.approx(0.1)
    assert sp.loc["Table III", "span paper"] == pytest.approx(34.12 - 33.91)  # (b) - (a) in the paper
    assert sp.loc["Table IV", "measured"] == 3 and sp.loc["Table IV", "span ours"] == pytest.approx(0.15)
    assert sp.loc["Table IV", "span paper"] == pytest.approx(34.12 - 33.80)  # (3,5,7) - (7)
    assert sp.loc["Table IV", "sd ours"] == pytest.approx(np.std([32.0, 32.1, 31.95], ddof=1))
    assert sp.loc["Table V", "variants"] == 12 and sp.loc["Table V", "measured"] == 0
    assert np.isnan(sp.loc["Table V", "span ours"])
