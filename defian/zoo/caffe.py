"""Released Caffe models: a ``.caffemodel`` (binary protobuf) and its deploy ``.prototxt`` (text).

No Caffe and no ``protobuf`` package: the binary file is decoded here from the
protobuf wire format (developers.google.com/protocol-buffers/docs/encoding):
a message is a sequence of ``(field number << 3 | wire type)`` keys, each
followed by a varint (type 0), 8 bytes (type 1), a length-prefixed byte string
(type 2: strings, sub-messages, packed arrays) or 4 bytes (type 5).
:func:`read_message` returns every field of one message; the schema facts
below (from ``caffe.proto`` of BVLC/caffe) name the fields used:

===================  ==========================================================
message              fields read (number: name)
===================  ==========================================================
NetParameter         1: name, 100: layer (LayerParameter), 2: layers (V1, legacy)
LayerParameter       1: name, 2: type (string), 7: blobs, 106: convolution_param
V1LayerParameter     4: name, 5: type (enum), 6: blobs, 10: convolution_param
BlobProto            5: data (float, packed or not), 7: shape, 1-4: num/channels/height/width (legacy)
BlobShape            1: dim (int64, packed or not)
ConvolutionParameter 1: num_output, 3: pad, 4: kernel_size, 5: group, 6: stride
===================  ==========================================================

A weight blob of a Convolution layer is ``(out, in / group, kh, kw)`` and of a
Deconvolution layer ``(in, out / group, kh, kw)``, row-major, exactly
PyTorch's ``conv2d`` / ``conv_transpose2d`` layouts; Caffe's convolution is a
cross-correlation, as PyTorch's.

:func:`read_prototxt` parses the text format of a deploy file (``name: value``
pairs and ``name { ... }`` blocks, ``#`` comments, any line endings) into
nested dicts whose values are lists (every field may repeat).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from defian.zoo.errors import ReleasedWeightsError, require_file

__all__ = ["CaffeLayer", "read_caffemodel", "read_message", "read_prototxt"]

_V1_TYPES = {4: "Convolution", 39: "Deconvolution", 18: "ReLU", 22: "Split", 33: "Slice", 3: "Concat",
             25: "Eltwise"}  # V1LayerParameter.LayerType values used by SR networks


class _Truncated(Exception):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise _Truncated(f"varint runs past the end at byte {pos}")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 70:
            raise ValueError(f"varint longer than 10 bytes at byte {pos}")


def read_message(buf: bytes) -> dict[int, list[int | bytes]]:
    """All fields of one protobuf message: ``{field number: [values in order]}``.

    Varints come back as ``int``; fixed64/fixed32 values and length-delimited
    fields as their raw ``bytes`` (decode with :mod:`struct` or
    :func:`read_message` for sub-messages).

    Raises:
        ValueError: Malformed or truncated data (the message says where).
    """
    fields: dict[int, list[int | bytes]] = {}
    pos, n = 0, len(buf)
    try:
        while pos < n:
            key, pos = _varint(buf, pos)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, pos = _varint(buf, pos)
            elif wire in (1, 5):
                size = 8 if wire == 1 else 4
                if pos + size > n:
                    raise _Truncated(f"field {number} needs {size} bytes at byte {pos}, {n - pos} left")
                value, pos = buf[pos:pos + size], pos + size
            elif wire == 2:
                size, pos = _varint(buf, pos)
                if pos + size > n:
                    raise _Truncated(f"field {number} declares {size} bytes at byte {pos}, {n - pos} left")
                value, pos = buf[pos:pos + size], pos + size
            else:
                raise ValueError(f"wire type {wire} (groups) of field {number} at byte {pos} is not supported")
            fields.setdefault(number, []).append(value)
    except _Truncated as err:
        raise ValueError(f"truncated protobuf message: {err}") from err
    return fields


def _floats(values: list[int | bytes]) -> np.ndarray:
    """A repeated float field: packed chunks (type 2) and/or single fixed32 values (type 5), both raw bytes."""
    parts = [np.frombuffer(v, dtype="<f4") for v in values if isinstance(v, bytes)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype="<f4")


def _ints(values: list[int | bytes]) -> list[int]:
    """A repeated integer field, packed (bytes of varints) or not (ints)."""
    out: list[int] = []
    for v in values:
        if isinstance(v, int):
            out.append(v)
        else:
            pos = 0
            while pos < len(v):
                x, pos = _varint(v, pos)
                out.append(x)
    return out


def _string(values: list[int | bytes] | None) -> str:
    return values[0].decode("utf-8") if values else ""


@dataclass(frozen=True)
class CaffeLayer:
    """One layer of a ``.caffemodel``: name, type, weight blobs and convolution settings."""

    name: str
    type: str
    blobs: list[np.ndarray] = field(default_factory=list)  # float32, shaped
    conv: dict[str, list[int]] = field(default_factory=dict)  # num_output, pad, kernel_size, group, stride


def _blob(buf: bytes) -> np.ndarray:
    f = read_message(buf)
    data = _floats(f.get(5, []))
    if 7 in f:
        shape = _ints(read_message(f[7][0]).get(1, []))
    else:  # legacy 4-D blob
        shape = [_ints(f.get(i, [1]))[0] for i in (1, 2, 3, 4)]
    if int(np.prod(shape)) != data.size:
        raise ValueError(f"blob of shape {shape} holds {data.size} values")
    return data.reshape(shape).astype(np.float32)


def _conv_param(buf: bytes | None) -> dict[str, list[int]]:
    if buf is None:
        return {}
    f = read_message(buf)
    names = {1: "num_output", 3: "pad", 4: "kernel_size", 5: "group", 6: "stride"}
    return {name: _ints(f[num]) for num, name in names.items() if num in f}


def read_caffemodel(path: str | Path, what: str = "Caffe weights") -> list[CaffeLayer]:
    """Layers of a binary ``.caffemodel`` (new ``layer`` or legacy V1 ``layers`` format), in file order.

    Raises:
        ReleasedWeightsError: Missing, truncated or malformed file.
    """
    path = require_file(path, what)
    try:
        net = read_message(path.read_bytes())
        layers = []
        for buf in net.get(100, []):
            f = read_message(buf)
            layers.append(CaffeLayer(_string(f.get(1)), _string(f.get(2)), [_blob(b) for b in f.get(7, [])],
                                     _conv_param(f.get(106, [None])[0])))
        for buf in net.get(2, []):
            f = read_message(buf)
            kind = _ints(f.get(5, [0]))[0]
            layers.append(CaffeLayer(_string(f.get(4)), _V1_TYPES.get(kind, f"V1:{kind}"),
                                     [_blob(b) for b in f.get(6, [])], _conv_param(f.get(10, [None])[0])))
    except (ValueError, UnicodeDecodeError) as err:
        raise ReleasedWeightsError(f"{what}: cannot read {path} (truncated or corrupt file?): {err}") from err
    if not layers:
        raise ReleasedWeightsError(f"{what}: {path} holds no Caffe layers (not a .caffemodel?)")
    return layers


_TOKEN = re.compile(r'\s*(?:(#[^\n\r]*)|("(?:[^"\\]|\\.)*")|([{}:])|([^\s{}:"#]+))')


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"unexpected character {text[pos]!r} at offset {pos}")
        pos = m.end()
        if m.group(1) is None and m.group(0).strip():
            out.append(m.group(2) or m.group(3) or m.group(4))
    return out


def _value(tok: str) -> Any:
    if tok.startswith('"'):
        return tok[1:-1]
    for kind in (int, float):
        try:
            return kind(tok)
        except ValueError:
            pass
    return tok  # enum names, true/false


def read_prototxt(path: str | Path, what: str = "Caffe deploy file") -> dict[str, list[Any]]:
    """Parse a protobuf text-format file into ``{field: [values]}`` (blocks become nested dicts).

    Raises:
        ReleasedWeightsError: Missing file or a syntax error (named with its offset).
    """
    path = require_file(path, what)
    try:
        toks = _tokens(path.read_text(encoding="utf-8"))
        stack: list[dict[str, list[Any]]] = [{}]
        i = 0
        while i < len(toks):
            tok = toks[i]
            if tok == "}":
                if len(stack) == 1:
                    raise ValueError("unbalanced '}'")
                stack.pop()
                i += 1
            elif i + 1 < len(toks) and toks[i + 1] == "{":
                block: dict[str, list[Any]] = {}
                stack[-1].setdefault(tok, []).append(block)
                stack.append(block)
                i += 2
            elif i + 1 < len(toks) and toks[i + 1] == ":":
                if i + 2 >= len(toks):
                    raise ValueError(f"field {tok!r} has no value")
                if toks[i + 2] == "{":  # "name: { ... }" is also legal
                    block = {}
                    stack[-1].setdefault(tok, []).append(block)
                    stack.append(block)
                else:
                    stack[-1].setdefault(tok, []).append(_value(toks[i + 2]))
                i += 3
            else:
                raise ValueError(f"unexpected token {tok!r}")
        if len(stack) != 1:
            raise ValueError("unclosed '{' at the end of the file")
    except ValueError as err:
        raise ReleasedWeightsError(f"{what}: cannot parse {path}: {err}") from err
    return stack[0]
