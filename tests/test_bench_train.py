"""benchmarks/bench_train.py: its ratios on known times, FLOPs and rates (a fake clock), and its real path on a tiny model."""

from __future__ import annotations

import argparse

import pytest
import torch

from defian import paths


@pytest.fixture(scope="module")
def bench():  # noqa: ANN201 (a module)
    return paths.benchmark_script("bench_train")


def test_unknown_benchmark_script_is_named() -> None:
    with pytest.raises(FileNotFoundError, match=r"bench_nope\.py.*there are \[.*'bench_train'"):
        paths.benchmark_script("bench_nope")


class _Clock:
    """A fake ``time`` module whose clock only moves when a fake update runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def _fake_models(bench, monkeypatch, times: dict[str, list[float]], flops: dict[str, int],  # noqa: ANN001
                 rates: list[float]) -> list[str]:
    """Replace the models' updates (each call advances the clock by its next time), their FLOP
    counts and the dense-rate measurements (returned in order) by known values; returns the call log."""
    clock, log, left, rate_values = _Clock(), [], {k: list(v) for k, v in times.items()}, iter(rates)

    def update_fn(name, args):  # noqa: ANN001, ANN202
        def update() -> None:
            log.append(name)
            clock.now += left[name].pop(0)
        return update, lambda: flops[name]

    monkeypatch.setattr(bench, "time", clock)
    monkeypatch.setattr(bench, "_update_fn", update_fn)
    monkeypatch.setattr(bench, "_conv_step", lambda precision, fmt, device: None)
    monkeypatch.setattr(bench, "_rate", lambda step: next(rate_values))
    return log


def test_measure_on_known_times(bench, monkeypatch) -> None:  # noqa: ANN001
    """Known times, FLOPs and rates in, the benchmark's ratios out (worked by hand)."""
    # one warm-up update each (5 s, not timed), then three rounds: DeFiAN_S 3, 5, 3 s; RCAN_S 2, 2, 4 s
    log = _fake_models(bench, monkeypatch, {"defian_s": [5, 3, 5, 3], "rcan_s": [5, 2, 2, 4]},
                       {"defian_s": 6 * 10**9, "rcan_s": 4 * 10**9},
                       # 8 before the rounds (2 layouts x 4: best 2 GFLOP/s), 2 per round (1, 1, 0.5),
                       # 6 after (best 3): the floor takes 3 GFLOP/s
                       [1e9] * 7 + [2e9] + [1e9, 0.5e9] * 2 + [0.5e9, 0.5e9] + [1e9] * 5 + [3e9])
    args = argparse.Namespace(precision="fp32", device="cpu", warmup=1, rounds=3, steps=1, batch=16,
                              allocator_label="test")
    res = bench.measure(args)
    assert log == ["defian_s", "rcan_s"] * 2 + ["rcan_s", "defian_s", "defian_s", "rcan_s"]  # warm-ups, then ABBA
    d, r = res["defian_s"], res["rcan_s"]
    assert d["rounds"] == [3, 5, 3] and r["rounds"] == [2, 2, 4]
    assert res["dense_conv_gflops_before_after"] == [2, 3] and res["dense_conv_gflops"] == 3
    assert res["dense_conv_gflops_rounds"] == [1, 1, 0.5]
    assert (d["s_per_update"], r["s_per_update"]) == (3, 2)  # medians
    assert d["samples_per_s"] == pytest.approx(16 / 3)
    assert (d["floor_s"], r["floor_s"]) == (pytest.approx(2), pytest.approx(4 / 3))  # 6 and 4 GFLOP at 3 GFLOP/s
    assert (d["ratio_to_floor"], r["ratio_to_floor"]) == (pytest.approx(1.5), pytest.approx(1.5))
    # each round's time over its own floor: DeFiAN_S 3*1/6, 5*1/6, 3*0.5/6 -> median 0.5; RCAN_S 0.5, 0.5, 0.5
    assert (d["ratio_to_round_floor"], r["ratio_to_round_floor"]) == (pytest.approx(0.5), pytest.approx(0.5))
    assert res["defian_over_rcan_time"] == pytest.approx(1.5)  # median of 3/2, 5/2, 3/4
    assert res["attention_flop_share"] == pytest.approx(1 / 3) and res["attention_time_share"] == pytest.approx(1 / 3)


def test_profile_split_on_known_times(bench, monkeypatch) -> None:  # noqa: ANN001
    _fake_models(bench, monkeypatch, {"defian_s": [1], "rcan_s": [1]}, {"defian_s": 3 * 10**9, "rcan_s": 10**9}, [])
    monkeypatch.setattr(bench, "conv_split", lambda update, steps: (2.0, 1.5))  # 2 s an update, 1.5 in convolutions
    split = bench.profile_split(argparse.Namespace(warmup=1, steps=1))
    assert split["defian_s"] == {"s_per_update": 2.0, "conv_share": 0.75, "conv_gflops": pytest.approx(2.0)}
    assert split["rcan_s"]["conv_gflops"] == pytest.approx(1 / 1.5)


def test_measure_runs_on_a_tiny_model(bench, monkeypatch) -> None:  # noqa: ANN001
    """The real updates and FLOP counts end to end (the dense-rate convolution, (16, 64, 96, 96) and
    tens of GFLOP a call, is replaced by a constant rate to keep this test short): the attention
    branch adds FLOPs to its twin's."""
    monkeypatch.setattr(bench, "_conv_step", lambda precision, fmt, device: None)
    monkeypatch.setattr(bench, "_rate", lambda step: 1e9)
    args = argparse.Namespace(scale=2, batch=2, patch=8, switches=[("n_modules", 1), ("n_blocks", 1)],
                              precision="fp32", layout="nhwc", compile=False, device="cpu", warmup=0, rounds=2, steps=1,
                              allocator_label="test")
    res = bench.measure(args)
    d, r = res["defian_s"], res["rcan_s"]
    assert len(d["rounds"]) == len(r["rounds"]) == len(res["dense_conv_gflops_rounds"]) == 2
    assert d["flops_per_update"] > r["flops_per_update"]  # the DiEnDec and DAC convolutions (MSHF has none)


def test_conv_split_tells_convolutions_from_the_rest(bench) -> None:  # noqa: ANN001
    conv = torch.nn.Conv2d(8, 8, 3, padding=1)
    x = torch.rand(2, 8, 32, 32, requires_grad=True)

    def conv_step() -> None:
        conv(x).sum().backward()

    def elementwise_step() -> None:
        ((x * 2 + 1).relu() ** 2).sum().backward()

    total, in_conv = bench.conv_split(conv_step, steps=3)
    assert 0 < in_conv <= total and in_conv / total > 0.5  # the sum and its backward are the rest
    total, in_conv = bench.conv_split(elementwise_step, steps=3)
    assert in_conv == 0


def test_profile_split_shares(bench) -> None:  # noqa: ANN001
    args = argparse.Namespace(scale=2, batch=2, patch=8, switches=[("n_modules", 1), ("n_blocks", 1)],
                              precision="fp32", layout="nhwc", compile=False, device="cpu", warmup=0, steps=1)
    split = bench.profile_split(args)
    assert set(split) == {"defian_s", "rcan_s"}
    for r in split.values():  # both models spend time in convolutions and elsewhere
        assert 0 < r["conv_share"] < 1


def test_record_appends_numbered_lines_with_their_provenance(bench, tmp_path) -> None:  # noqa: ANN001
    import json

    res = {"config": {"rounds": 3, "steps": 1, "device": "cpu"}, "defian_over_rcan_time": 1.07}
    path = tmp_path / "bench.jsonl"
    first, second = bench.record(res, path), bench.record({**res, "defian_over_rcan_time": 1.11}, path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [first, second]
    assert [r["run"] for r in rows] == [1, 2]
    assert [r["defian_over_rcan_time"] for r in rows] == [1.07, 1.11]  # the result itself, unchanged
    assert "3 rounds of 1 update(s)" in rows[0]["method"]
    assert "logical cores, ISA" in rows[0]["machine"] and rows[0]["commit"] and rows[0]["torch"] == torch.__version__


def test_record_refuses_the_modes_without_rounds(bench, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):
        bench.main(["--profile", "--record", "x.jsonl"])
    assert "--record" in capsys.readouterr().err


def test_fp16_and_a_missing_gpu_are_refused_by_name(bench, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):
        bench.main(["--precision", "fp16"])
    assert "fp16 needs --device cuda" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bench.main(["--device", "cuda:0"])
        assert "--device cuda:0: CUDA is not available" in capsys.readouterr().err


def test_cpu_model_names_generation_and_isa() -> None:
    from defian import provenance

    info = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n" \
           "processor\t: 1\nmodel name\t: AMD EPYC\n"
    name = provenance.cpu_model(info)
    assert name.startswith("AMD EPYC (family 25, model 17), ")
    assert name.endswith(f"logical cores, ISA {torch.backends.cpu.get_cpu_capability()}")


def test_same_cpu_compares_processor_and_isa_not_cores() -> None:
    from defian import provenance

    zen4 = "AMD EPYC (family 25, model 17), 2 logical cores, ISA AVX512"
    assert provenance.same_cpu(zen4, "AMD EPYC (family 25, model 17), 16 logical cores, ISA AVX512")
    assert not provenance.same_cpu(zen4, "AMD EPYC (family 25, model 1), 2 logical cores, ISA AVX2")  # Zen 3
    assert not provenance.same_cpu(zen4, "Intel(R) Xeon(R) Processor (family 6, model 143), 2 logical cores, "
                                         "ISA AVX512")
    assert not provenance.same_cpu(zen4, "AMD EPYC (family 25, model 17), 2 logical cores, ISA AVX2")
    assert not provenance.same_cpu("", zen4)  # a record that names no CPU matches none
    assert provenance.same_cpu(provenance.cpu_model())
