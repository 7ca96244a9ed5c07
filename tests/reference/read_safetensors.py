#!/usr/bin/env python3
"""A stdlib + numpy reader of safetensors files, to prove that branchy's
checkpoints load in Python without the `safetensors` package.

    python3 tests/reference/read_safetensors.py model.safetensors
prints the metadata and every tensor's name, shape, sum and first values.
Files branchy wrote carry each tensor's CRC-32 in the metadata entry
"branchy.crc32" (formats/tensor_checksums.h); they are checked here too.
In PyTorch: tensors, metadata = read_safetensors(path);
model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}).
"""
import json
import struct
import sys
import zlib

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def read_safetensors(path):
    """Returns ({name: numpy array}, {metadata key: value}); raises ValueError on a bad file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if 8 + header_len > len(blob):
        raise ValueError(f"{path}: header length {header_len} past the end of the file")
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    data = blob[8 + header_len:]
    tensors, end = {}, 0
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, stop = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]])
        if begin != end or stop - begin != dtype.itemsize * int(np.prod(info["shape"], dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name} has bad data_offsets {info['data_offsets']}")
        tensors[name] = np.frombuffer(data, dtype, offset=begin, count=(stop - begin) // dtype.itemsize)
        tensors[name] = tensors[name].reshape(info["shape"]).copy()
        end = stop
    if end != len(data):
        raise ValueError(f"{path}: data section is {len(data)} bytes, tensors end at {end}")
    checksums = json.loads(metadata.pop("branchy.crc32", "{}"))
    for name, expected in checksums.items():
        begin, stop = header[name]["data_offsets"]
        if f"{zlib.crc32(data[begin:stop]):08x}" != expected.lower():
            raise ValueError(f"{path}: tensor {name}: its data do not match the CRC-32 stored for it")
    order = [name for name in header]  # header order, as written
    return {name: tensors[name] for name in order}, metadata


if __name__ == "__main__":
    tensors, metadata = read_safetensors(sys.argv[1])
    for key, value in metadata.items():
        print(f"metadata {key!r}: {value!r}")
    for name, array in tensors.items():
        print(f"{name} {list(array.shape)} sum={float(array.sum(dtype=np.float64)):.9g} "
              f"first={array.reshape(-1)[:4].tolist()}")
