"""defian.nn.released: released-checkpoint layout, round trip, errors, and forward equality.

The released layout (key names, shapes, fixed Hessian stencils, random frozen
Hessian biases) is written down here as recorded facts; the released forward is
re-stated below with torch.nn.functional on those key names, independently of
defian's modules, and compared with the loaded model.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from defian.nn.released import from_released, load_released, save_released, to_released
from defian.nn.model import build_model

KERS = (3, 5, 7)
GRADS = ("grad_xx", "grad_yy", "grad_xy")


def released_layout(c: int, n: int, m: int, scale: int, attention: bool = True) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the released Generator built with scale=[s] (recorded facts)."""
    r = c // 16
    lay = {"input.weight": (c, 3, 3, 3), "input.bias": (c,)}
    for i in range(n):
        p = f"body.{i}."
        for j in range(m):
            q = f"{p}body_block.{j}."
            lay |= {q + "block.0.weight": (c, c, 3, 3), q + "block.2.weight": (c, c, 3, 3),
                    q + "calayer.0.weight": (r, c, 1, 1), q + "calayer.0.bias": (r,),
                    q + "calayer.2.weight": (c, r, 1, 1), q + "calayer.2.bias": (c,)}
        if attention:
            for idx, (a, b) in zip((0, 2, 4), ((3, 6), (6, 12), (12, 24)), strict=True):
                lay |= {f"{p}coder.0.encoder.{idx}.weight": (b, a, 3, 3), f"{p}coder.0.encoder.{idx}.bias": (b,)}
            for idx, (a, b) in zip((0, 2, 4), ((24, 12), (12, 6), (6, 3)), strict=True):  # ConvTranspose: (in, out)
                lay |= {f"{p}coder.0.decoder.{idx}.weight": (a, b, 3, 3), f"{p}coder.0.decoder.{idx}.bias": (b,)}
            lay |= {f"{p}coder.0.gate.weight": (1, 3, 1, 1), f"{p}coder.0.gate.bias": (1,)}
            for stat in ("mean", "std"):
                lay |= {f"{p}dac.0.{stat}.0.weight": (r, c, 1, 1), f"{p}dac.0.{stat}.2.weight": (c, r, 1, 1)}
            for ker in KERS:
                for g in GRADS:
                    lay |= {f"{p}hessian{ker}.0.{g}.weight": (c, 1, 3, 3), f"{p}hessian{ker}.0.{g}.bias": (c,)}
    lay |= {"tail.weight": (c, c, 3, 3), "tail.bias": (c,)}
    ups = [(9 * c, c, 3, 3)] if scale == 3 else [(4 * c, c, 3, 3)] * int(math.log2(scale))
    lay |= {f"upscale.0.{2 * i}.weight": s for i, s in enumerate(ups)}
    return lay | {"output.weight": (3, c, 3, 3), "output.bias": (3,)}


def stencil(name: str) -> torch.Tensor:
    """The released fixed 3x3 Hessian taps (recorded facts)."""
    w = torch.zeros(3, 3)
    if name == "grad_xx":
        w[1] = torch.tensor([1.0, -2.0, 1.0])
    elif name == "grad_yy":
        w[:, 1] = torch.tensor([1.0, -2.0, 1.0])
    else:
        w[0, 0], w[0, 2], w[2, 0], w[2, 2] = 1.0, -1.0, -1.0, 1.0
    return w


def random_released(c: int, n: int, m: int, scale: int, attention: bool = True, seed: int = 0) -> dict:
    """A released-layout state dict with PyTorch-like random values."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in released_layout(c, n, m, scale, attention).items():
        if ".hessian" in k and k.endswith("weight"):
            sd[k] = stencil(k.split(".")[-2]).expand(shape).clone()
            continue
        fan_in = 9 if ".hessian" in k else (math.prod(shape[1:]) if len(shape) > 1 else 9)
        bound = 1 / math.sqrt(fan_in)
        sd[k] = (torch.rand(shape, generator=gen) * 2 - 1) * bound
    return sd


def released_forward(sd: dict, x: torch.Tensor, c: int, n: int, m: int, attention: bool) -> torch.Tensor:
    """The released Generator plus main.py's normalisation, re-stated functionally."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x - mean) / std
    h = F.conv2d(x, sd["input.weight"], sd["input.bias"], padding=1)
    body_in = h
    for i in range(n):
        p = f"body.{i}."
        res = h
        for j in range(m):
            q = f"{p}body_block.{j}."
            r = F.relu(F.conv2d(res, sd[q + "block.0.weight"], padding=1))
            r = F.conv2d(r, sd[q + "block.2.weight"], padding=1)
            a = F.adaptive_avg_pool2d(r, 1)
            a = F.conv2d(F.relu(F.conv2d(a, sd[q + "calayer.0.weight"], sd[q + "calayer.0.bias"])),
                         sd[q + "calayer.2.weight"], sd[q + "calayer.2.bias"])
            res = res + r * torch.sigmoid(a)
        if attention:
            maps = []
            for ker in KERS:
                d = (ker - 1) // 2
                g = [F.conv2d(res, sd[f"{p}hessian{ker}.0.{nm}.weight"], sd[f"{p}hessian{ker}.0.{nm}.bias"],
                              padding=d, dilation=d, groups=c) for nm in GRADS]
                lam = ((g[0] + g[1]) + ((g[0] - g[1]) ** 2 + 4 * g[2] ** 2) ** 0.5) / 2
                maps.append(lam.mean(1, keepdim=True))
            v = torch.cat(maps, 1)
            for idx, d in zip((0, 2, 4), (1, 2, 4), strict=True):
                v = F.relu(F.conv2d(v, sd[f"{p}coder.0.encoder.{idx}.weight"], sd[f"{p}coder.0.encoder.{idx}.bias"],
                                    padding=d, dilation=d))
            for idx, d in zip((0, 2, 4), (4, 2, 1), strict=True):
                v = F.relu(F.conv_transpose2d(v, sd[f"{p}coder.0.decoder.{idx}.weight"],
                                              sd[f"{p}coder.0.decoder.{idx}.bias"], padding=d, dilation=d))
            v = F.conv2d(v, sd[f"{p}coder.0.gate.weight"], sd[f"{p}coder.0.gate.bias"]).expand(res.shape)
            vm, vs = v.mean((2, 3), keepdim=True), (v.var((2, 3), keepdim=True) + 1e-5).sqrt()
            hm, hs = h.mean((2, 3), keepdim=True), (h.var((2, 3), keepdim=True) + 1e-5).sqrt()

            def mlp(t: torch.Tensor, s: str, p: str = p) -> torch.Tensor:
                return F.conv2d(F.relu(F.conv2d(t, sd[f"{p}dac.0.{s}.0.weight"])), sd[f"{p}dac.0.{s}.2.weight"])

            res = res * torch.sigmoid((v - vm) / vs * mlp(hs, "std") + mlp(hm, "mean"))
        h = res + h
    y = F.conv2d(h, sd["tail.weight"], sd["tail.bias"], padding=1) + body_in
    i = 0
    while f"upscale.0.{i}.weight" in sd:
        w = sd[f"upscale.0.{i}.weight"]
        y = F.pixel_shuffle(F.conv2d(y, w, padding=1), int(math.isqrt(w.shape[0] // w.shape[1])))
        i += 2
    y = F.conv2d(y, sd["output.weight"], sd["output.bias"], padding=1)
    out_mean = torch.tensor([-2.118, -2.036, -1.804]).view(1, 3, 1, 1)
    out_std = torch.tensor([4.367, 4.464, 4.444]).view(1, 3, 1, 1)
    return (y - out_mean) / out_std


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("attention", [True, False])
def test_forward_equals_released_restatement(scale: int, attention: bool) -> None:
    c, n, m = 16, 2, 2
    sd = random_released(c, n, m, scale, attention, seed=scale)
    model = from_released(sd, scale=scale)
    x = torch.rand(2, 3, 11, 9, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, ref = model(x), released_forward(sd, x, c, n, m, attention)
    assert ours.shape == (2, 3, 11 * scale, 9 * scale)
    assert (ours - ref).abs().max().item() < 1e-5  # float32, issue's tolerance


def test_forward_defian_s_size_and_preset_inference() -> None:
    sd = random_released(32, 5, 10, 3, seed=7)
    model = from_released(sd, scale=3, preset="defian_s")
    assert (model.config.n_modules, model.config.n_blocks, model.config.channels) == (5, 10, 32)
    x = torch.rand(1, 3, 8, 7, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (model(x) - released_forward(sd, x, 32, 5, 10, True)).abs().max().item() < 1e-5


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_round_trip_exact(scale: int) -> None:
    sd = random_released(16, 2, 3, scale, seed=3)
    back = to_released(from_released(sd, scale=scale))
    assert set(back) == set(sd)
    for k in sd:
        assert back[k].shape == sd[k].shape and torch.equal(back[k], sd[k]), k


def test_our_model_round_trip_and_forward() -> None:
    torch.manual_seed(0)
    model = build_model("defian_s", 2, n_modules=2, n_blocks=1, channels=16, normalisation="imagenet").eval()
    with torch.no_grad():
        for mod in model.body:  # a released checkpoint carries non-zero frozen Hessian biases
            mod.mshf.bias.uniform_(-1 / 3, 1 / 3)
    again = from_released(to_released(model), scale=2)
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_module_prefix_and_whole_checkpoint() -> None:
    sd = random_released(16, 2, 1, 2, seed=4)
    plain = to_released(from_released(sd, scale=2))
    prefixed = to_released(from_released({"module." + k: v for k, v in sd.items()}, scale=2))
    whole = to_released(from_released({"epoch": 300, "state_dict": sd}, scale=2))
    for k in sd:
        assert torch.equal(prefixed[k], plain[k]) and torch.equal(whole[k], plain[k])


def test_errors_name_what_was_expected() -> None:
    sd = random_released(16, 2, 1, 2, seed=5)
    with pytest.raises(ValueError, match="x2 model.*expected x3"):
        from_released(sd, scale=3)
    with pytest.raises(ValueError, match="preset 'defian_s' expects N=5, M=10, C=32"):
        from_released(sd, scale=2, preset="defian_s")
    with pytest.raises(ValueError, match="missing \\['body.1.coder.0.gate.bias'\\]"):
        from_released({k: v for k, v in sd.items() if k != "body.1.coder.0.gate.bias"}, scale=2)
    with pytest.raises(ValueError, match="unexpected \\['extra.weight'\\]"):
        from_released(sd | {"extra.weight": torch.zeros(1)}, scale=2)
    bad = dict(sd)
    bad["tail.weight"] = torch.zeros(16, 16, 1, 1)
    with pytest.raises(ValueError, match="'tail.weight' has shape \\(16, 16, 1, 1\\), expected \\(16, 16, 3, 3\\)"):
        from_released(bad, scale=2)
    with pytest.raises(ValueError, match="no 'input.weight'"):
        from_released({"head.weight": torch.zeros(1)}, scale=2)


def test_to_released_refuses_configs_without_equivalent() -> None:
    for switches, word in [({"normalisation": "mean_rgb"}, "normalisation"), ({"dac": False}, "all on or all off"),
                           ({"channels": 8}, "channels=8"), ({"n_modules": 1}, "n_modules=1"),
                           ({"kernel_sizes": (3, 5)}, "kernel_sizes")]:
        kw = {"n_modules": 2, "n_blocks": 1, "channels": 16, "normalisation": "imagenet"} | switches
        with pytest.raises(ValueError, match=word):
            to_released(build_model("defian_s", 2, **kw))


def test_load_released_file(tmp_path) -> None:  # noqa: ANN001
    sd = random_released(32, 5, 10, 3, seed=6)
    model = from_released(sd, scale=3)
    path = save_released(model, tmp_path / "DeFiAN_S_x3.pth", epoch=300)
    loaded = load_released(path, scale=3)
    assert loaded.config.channels == 32
    back = to_released(loaded)
    assert all(torch.equal(back[k], sd[k]) for k in sd)
    with pytest.raises(ValueError, match="named as a x3 checkpoint, expected x2"):
        load_released(path, scale=2)
    with pytest.raises(ValueError, match="named as 'defian_s', expected preset 'defian_l'"):
        load_released(path, scale=3, preset="defian_l")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_released(tmp_path / "nope.pth", scale=3)
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="expected a dict with 'epoch' and 'state_dict'"):
        load_released(tmp_path / "list.pth", scale=3)
    torch.save({"epoch": 1, "state_dict": {"foo.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="other.pth.*no 'input.weight'"):
        load_released(tmp_path / "other.pth", scale=3)
    torch.save({"epoch": 1, "state_dict": sd, "extra": torch.nn.ReLU()}, tmp_path / "pickled.pth")
    with pytest.raises(ValueError, match="not a plain-tensor PyTorch checkpoint"):
        load_released(tmp_path / "pickled.pth", scale=3)
