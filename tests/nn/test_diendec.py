"""defian.nn.diendec: layer settings, receptive fields (Eq. 19, Sec. IV-D4), shapes, d = 0."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from defian.nn.diendec import ENDEC_TYPES, EncoderDecoder, accumulated_receptive_fields, paper_arf


def test_released_layer_settings_and_count() -> None:
    e = EncoderDecoder(3, 3, "diendec")
    assert [(c.in_channels, c.out_channels, c.dilation[0], c.padding[0]) for c in e.encoder] == [
        (3, 6, 1, 1), (6, 12, 2, 2), (12, 24, 4, 4)]
    assert [(c.in_channels, c.out_channels, c.dilation[0], c.padding[0]) for c in e.decoder] == [
        (24, 12, 4, 4), (12, 6, 2, 2), (6, 3, 1, 1)]
    for kind in ENDEC_TYPES:  # identical #Params for all three types
        assert sum(p.numel() for p in EncoderDecoder(3, 3, kind).parameters()) == 6871
    assert sum(p.numel() for p in EncoderDecoder(3, 0).parameters()) == 0


def test_encoder_arf_matches_eq19_and_paper() -> None:
    """Paper: encoder ARF 3 -> 7 -> 15 (Eq. 19 with k = 3)."""
    arf = accumulated_receptive_fields(EncoderDecoder(3, 3, "diendec"))
    assert arf[:3] == [paper_arf(1), paper_arf(2), paper_arf(3)] == [3, 7, 15]


def test_decoder_arf_paper_vs_impulse_response() -> None:
    """Paper's decoder numbers 9 -> 13 -> 15 are the decoder on its own; accumulated: 23 -> 27 -> 29."""
    e = EncoderDecoder(3, 3, "diendec")
    assert accumulated_receptive_fields(e)[3:] == [23, 27, 29]
    assert accumulated_receptive_fields(e, start="decoder") == [9, 13, 15]


def test_other_types_and_depths() -> None:
    assert accumulated_receptive_fields(EncoderDecoder(3, 3, "convendec")) == [3, 5, 7, 9, 11, 13]
    assert accumulated_receptive_fields(EncoderDecoder(3, 4, "diendec"), size=97)[:4] == [3, 7, 15, 31]
    assert accumulated_receptive_fields(EncoderDecoder(3, 1, "diendec")) == [3, 5]
    with pytest.raises(ValueError, match="full-resolution"):
        accumulated_receptive_fields(EncoderDecoder(3, 2, "hgendec"))


@pytest.mark.parametrize("kind", ENDEC_TYPES)
@pytest.mark.parametrize("d", [0, 1, 2, 3, 4])
def test_full_size_output(kind: str, d: int) -> None:
    x = torch.randn(2, 3, 13, 11)
    assert EncoderDecoder(3, d, kind)(x).shape == (2, 1, 13, 11)


def test_d0_is_channel_mean() -> None:
    x = torch.randn(2, 3, 5, 4)
    assert torch.allclose(EncoderDecoder(3, 0)(x), x.mean(1, keepdim=True))


def test_transposed_dilated_layer_is_flipped_convolution() -> None:
    """A stride-1 transposed conv equals a conv with the kernel flipped and in/out swapped."""
    torch.manual_seed(0)
    layer = EncoderDecoder(3, 3).decoder[0].double()
    x = torch.randn(1, 24, 12, 10, dtype=torch.float64)
    w = layer.weight.transpose(0, 1).flip(2, 3)
    ref = F.conv2d(x, w, layer.bias, padding=4, dilation=4)
    assert torch.allclose(layer(x), ref, rtol=0, atol=1e-12)


def test_stages_and_errors() -> None:
    e = EncoderDecoder(3, 3)
    st = e.stages(torch.randn(1, 3, 8, 8))
    assert [s.shape[1] for s in st] == [6, 12, 24, 12, 6, 3, 1]
    with pytest.raises(ValueError, match="expected \\(B, 3, H, W\\)"):
        e(torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="not one of"):
        EncoderDecoder(3, 3, "unet")


def _reference(e: EncoderDecoder, x: torch.Tensor, skips: bool, hourglass: bool) -> torch.Tensor:
    """The encoder-decoder written out layer by layer with F.conv2d (transposed layers as flipped convs)."""
    inputs, sizes = [], []
    for conv in e.encoder:
        inputs.append(x)
        x = torch.relu(F.conv2d(x, conv.weight, conv.bias, padding=conv.padding, dilation=conv.dilation))
        if hourglass:
            sizes.append(x.shape[-2:])
            x = F.max_pool2d(x, 2, ceil_mode=True)
    for conv in e.decoder:
        if hourglass:
            x = F.interpolate(x, size=sizes.pop(), mode="nearest")
        w = conv.weight.transpose(0, 1).flip(2, 3)
        y = F.conv2d(x, w, conv.bias, padding=conv.padding, dilation=conv.dilation)
        x = torch.relu(y + inputs.pop() if skips else y)
    return F.conv2d(x, e.gate.weight, e.gate.bias)


@pytest.mark.parametrize("kind", ["convendec", "hgendec", "convendec_skip", "hgendec_skip"])
def test_skip_variants_against_a_layer_by_layer_reference(kind: str) -> None:
    """RED-Net's symmetric skips and the hourglass's per-resolution branch, parameter-free (float64)."""
    torch.manual_seed(1)
    e = EncoderDecoder(3, 3, kind).double()
    x = torch.randn(2, 3, 13, 11, dtype=torch.float64)
    ref = _reference(e, x, skips=kind.endswith("_skip"), hourglass=kind.startswith("hgendec"))
    assert torch.allclose(e(x), ref, rtol=0, atol=1e-12)


def test_skip_variants_keep_the_count_and_change_the_map() -> None:
    """Table V's equal #Params hold with the skips (6871 at d = 3, K = 3), and the skips change v."""
    torch.manual_seed(2)
    x = torch.randn(1, 3, 16, 16)
    for base in ("convendec", "hgendec"):
        plain, skip = EncoderDecoder(3, 3, base), EncoderDecoder(3, 3, f"{base}_skip")
        assert sum(p.numel() for p in skip.parameters()) == sum(p.numel() for p in plain.parameters()) == 6871
        skip.load_state_dict(plain.state_dict())
        assert (skip(x) - plain(x)).abs().max() > 1e-3
