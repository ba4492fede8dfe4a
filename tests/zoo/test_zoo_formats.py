"""File-format readers and the colour pipeline, on synthetic files (no released artifacts needed).

The protobuf reader is checked on messages encoded here by hand from the wire
format's definition; the MATLAB helpers against MATLAB's documented
semantics (column-major ``reshape``, cell order); the colour conversions
against the book's metric (:func:`defian.data.metrics.rgb_to_y`).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
import scipy.io
import torch
from torch import nn

from defian.data import metrics
from defian.zoo import RELEASED, ReleasedWeightsError, super_resolve
from defian.zoo.caffe import read_caffemodel, read_message, read_prototxt
from defian.zoo.colour import rgb_to_ycbcr, ycbcr_to_rgb
from defian.zoo.matlab import cell, matlab_reshape, read_mat
from defian.zoo.pipeline import quantize
from defian.zoo.pytorch import assign, read_state_dict


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def _blob(values: np.ndarray) -> bytes:
    shape = b"".join(_varint(d) for d in values.shape)
    return (_field(7, 2, _field(1, 2, shape))  # BlobShape { dim (packed) }
            + _field(5, 2, values.astype("<f4").tobytes()))  # data (packed float)


def test_read_message_decodes_every_wire_type():
    msg = (_field(1, 0, _varint(300)) + _field(2, 2, b"abc") + _field(3, 5, struct.pack("<f", 1.5))
           + _field(4, 1, struct.pack("<d", -2.0)) + _field(1, 0, _varint(7)))
    f = read_message(msg)
    assert f[1] == [300, 7] and f[2] == [b"abc"]
    assert struct.unpack("<f", f[3][0]) == (1.5,) and struct.unpack("<d", f[4][0]) == (-2.0,)


def test_read_message_refuses_truncation():
    msg = _field(2, 2, b"abcdef")
    with pytest.raises(ValueError, match="truncated"):
        read_message(msg[:-2])


def test_read_caffemodel_new_format(tmp_path):
    w = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3)
    b = np.array([0.5, -1.0], dtype=np.float32)
    conv = _field(1, 0, _varint(2)) + _field(4, 0, _varint(3)) + _field(5, 0, _varint(1)) + _field(6, 0, _varint(2))
    layer = (_field(1, 2, b"conv1") + _field(2, 2, b"Convolution") + _field(7, 2, _blob(w)) + _field(7, 2, _blob(b))
             + _field(106, 2, conv))
    path = tmp_path / "net.caffemodel"
    path.write_bytes(_field(1, 2, b"net") + _field(100, 2, layer))
    (got,) = read_caffemodel(path)
    assert got.name == "conv1" and got.type == "Convolution"
    np.testing.assert_array_equal(got.blobs[0], w)
    np.testing.assert_array_equal(got.blobs[1], b)
    assert got.conv == {"num_output": [2], "kernel_size": [3], "group": [1], "stride": [2]}
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ReleasedWeightsError, match="truncated or corrupt"):
        read_caffemodel(path)


def test_read_prototxt_handles_cr_line_endings_comments_and_blocks(tmp_path):
    text = 'name: "net"\rinput_dim: 1\rinput_dim: 11 # comment\rlayer {\r  name: "up"\r  convolution_param {\r' \
           '    stride: 3\r    pad: 8\r  }\r}\rlayer { name: "b" type: "ReLU" }'
    path = tmp_path / "deploy.prototxt"
    path.write_text(text)
    p = read_prototxt(path)
    assert p["name"] == ["net"] and p["input_dim"] == [1, 11]
    assert p["layer"][0]["convolution_param"][0] == {"stride": [3], "pad": [8]}
    assert p["layer"][1] == {"name": ["b"], "type": ["ReLU"]}
    path.write_text("layer { name: 1")
    with pytest.raises(ReleasedWeightsError, match="cannot parse"):
        read_prototxt(path)


def test_matlab_reshape_is_column_major():
    # MATLAB: reshape(1:6, 2, 3) = [1 3 5; 2 4 6]
    np.testing.assert_array_equal(matlab_reshape(np.arange(1, 7), 2, 3), [[1, 3, 5], [2, 4, 6]])


def test_read_mat_cells_and_missing_variables(tmp_path):
    path = tmp_path / "w.mat"
    cells = np.empty((3, 1), dtype=object)
    for i in range(3):
        cells[i, 0] = np.full((2, i + 1), float(i))
    scipy.io.savemat(path, {"weights_conv": cells})
    data = read_mat(path, "test weights", required=("weights_conv",))
    assert [c.shape for c in cell(data["weights_conv"])] == [(2, 1), (2, 2), (2, 3)]
    with pytest.raises(ReleasedWeightsError, match=r"lacks the variables \['model'\]"):
        read_mat(path, "test weights", required=("model",))
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(ReleasedWeightsError, match="truncated or corrupt"):
        read_mat(path, "test weights")


def test_ycbcr_of_uint8_matches_the_metric_and_inverts():
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    y = rgb_to_ycbcr(rgb / 255.0)[..., 0] * 255.0
    np.testing.assert_allclose(y, metrics.rgb_to_y(rgb, rounded=False), atol=1e-12)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb / 255.0)), rgb / 255.0, atol=1e-12)


def test_quantize_rounds_or_truncates():
    x = np.array([-0.1, 0.5 / 255, 1.49 / 255, 254.6 / 255, 1.2])
    np.testing.assert_array_equal(quantize(x, "round"), [0, 1, 1, 255, 255])
    np.testing.assert_array_equal(quantize(x, "floor"), [0, 0, 1, 254, 255])
    with pytest.raises(ValueError, match="quantize"):
        quantize(x, "ceil")


class _Tiny(nn.Module):
    def __init__(self, out: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, out, 3)


def test_assign_checks_keys_and_shapes():
    state = {"conv.weight": np.ones((4, 1, 3, 3), np.float32), "conv.bias": np.zeros(4, np.float32)}
    model = assign(_Tiny(), state, "tiny.pth")
    assert torch.equal(model.conv.weight, torch.ones(4, 1, 3, 3)) and not model.training
    with pytest.raises(ReleasedWeightsError, match=r"tiny\.pth: conv\.weight has shape \(4, 1, 3, 3\), "
                                                   r"_Tiny expects \(2, 1, 3, 3\)"):
        assign(_Tiny(2), {**state, "conv.bias": np.zeros(2, np.float32)}, "tiny.pth")
    with pytest.raises(ReleasedWeightsError, match=r"not a _Tiny file: missing \['conv.bias'\]"):
        assign(_Tiny(), {"conv.weight": state["conv.weight"]}, "tiny.pth")


def test_read_state_dict_strips_dataparallel_prefix_and_refuses_cut_files(tmp_path):
    path = tmp_path / "m.pth"
    torch.save({"module.conv.weight": torch.ones(2, 2), "module.conv.bias": torch.zeros(2)}, path)
    assert sorted(read_state_dict(path)) == ["conv.bias", "conv.weight"]
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ReleasedWeightsError, match=f"cannot read {path}"):
        read_state_dict(path)
    with pytest.raises(ReleasedWeightsError, match="no file at"):
        read_state_dict(tmp_path / "absent.pth")


def test_super_resolve_refuses_bad_input():
    spec, model = RELEASED["SRCNN-915"], nn.Identity()
    with pytest.raises(TypeError, match="uint8"):
        super_resolve(spec, model, np.zeros((4, 4, 3)), 2)
    with pytest.raises(ValueError, match="shape"):
        super_resolve(spec, model, np.zeros((4, 4, 4), np.uint8), 2)
    with pytest.raises(ValueError, match="x5"):
        super_resolve(spec, model, np.zeros((4, 4, 3), np.uint8), 5)
