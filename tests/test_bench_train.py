"""benchmarks/bench_train.py: its ratios are what its docstring says they are, on a tiny model."""

from __future__ import annotations

import argparse
import statistics

import pytest
import torch

from defian import paths


@pytest.fixture(scope="module")
def bench():  # noqa: ANN201 (a module)
    return paths.benchmark_script("bench_train")


def test_unknown_benchmark_script_is_named() -> None:
    with pytest.raises(FileNotFoundError, match=r"bench_nope\.py.*there are \[.*'bench_train'"):
        paths.benchmark_script("bench_nope")


def test_measure_ratios_follow_the_rounds(bench) -> None:  # noqa: ANN001
    args = argparse.Namespace(scale=2, batch=2, patch=8, switches=[("n_modules", 1), ("n_blocks", 1)],
                              precision="fp32", layout="nhwc", compile=False, device="cpu", warmup=0, rounds=3, steps=1,
                              allocator_label="test")
    res = bench.measure(args)
    d, r = res["defian_s"], res["rcan_s"]
    assert len(d["rounds"]) == len(r["rounds"]) == len(res["dense_conv_gflops_rounds"]) == 3
    # the attention branch adds FLOPs (MSHF has none: stencils, not convolutions) and its twin has none of it
    assert d["flops_per_update"] > r["flops_per_update"] > 0
    assert res["attention_flop_share"] == pytest.approx(1 - r["flops_per_update"] / d["flops_per_update"])
    assert res["defian_over_rcan_time"] == pytest.approx(
        statistics.median(a / b for a, b in zip(d["rounds"], r["rounds"], strict=True)))
    for m in (d, r):
        assert m["s_per_update"] == pytest.approx(statistics.median(m["rounds"]))
        assert m["ratio_to_floor"] == pytest.approx(m["s_per_update"] * res["dense_conv_gflops"] * 1e9
                                                    / m["flops_per_update"])
        per_round = [t * g * 1e9 / m["flops_per_update"] for t, g in zip(m["rounds"], res["dense_conv_gflops_rounds"])]
        assert m["ratio_to_round_floor"] == pytest.approx(statistics.median(per_round))
    # the overall floor is at the best rate measured before and after the rounds
    assert res["dense_conv_gflops"] == max(res["dense_conv_gflops_before_after"])


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
    assert total > 0 and in_conv == 0


def test_profile_split_shares(bench) -> None:  # noqa: ANN001
    args = argparse.Namespace(scale=2, batch=2, patch=8, switches=[("n_modules", 1), ("n_blocks", 1)],
                              precision="fp32", layout="nhwc", compile=False, device="cpu", warmup=0, steps=1)
    split = bench.profile_split(args)
    assert set(split) == {"defian_s", "rcan_s"}
    for r in split.values():  # both models are mostly convolutions, never only
        assert 0 < r["conv_share"] < 1 and r["s_per_update"] > 0 and r["conv_gflops"] > 0


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
