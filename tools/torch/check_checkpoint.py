#!/usr/bin/env python3
"""Loads a bnlab run's model.safetensors into the equivalent PyTorch model with
load_state_dict(strict=True), evaluates it on the run's test set (Fashion-MNIST / MNIST / CIFAR-10,
read from the standard files; normalised per channel with the training set's mean and std, as
bnlab does), and prints one JSON line: test loss and accuracy as PyTorch computes them.
Compare with `bnlab eval --checkpoint RUN_DIR`.

    /usr/bin/python3 tools/torch/check_checkpoint.py RUN_DIR [--data DIR]

Needs only python3-torch (Debian); the safetensors file is parsed here (8-byte header length,
JSON header, raw little-endian data), so the `safetensors` package is not required.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bnlab_models  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        start, end = info["data_offsets"]
        array = np.frombuffer(raw[8 + n + start:8 + n + end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 0x803:
        h, w = struct.unpack(">II", data[8:16])
        return np.frombuffer(data[16:], np.uint8).reshape(count, 1, h, w)
    return np.frombuffer(data[8:], np.uint8)


def find(directory, stem):
    for name in (stem, stem + ".gz"):
        for d in (directory, os.path.join(directory, "fashion-mnist"), os.path.join(directory, "mnist")):
            if os.path.exists(os.path.join(d, name)):
                return os.path.join(d, name)
    sys.exit(f"{stem}[.gz] not found under {directory}")


def load_images(dataset, directory):
    if dataset in ("fashion-mnist", "mnist"):
        train = read_idx(find(directory, "train-images-idx3-ubyte"))
        images = read_idx(find(directory, "t10k-images-idx3-ubyte"))
        labels = read_idx(find(directory, "t10k-labels-idx1-ubyte"))
    elif dataset == "cifar10":
        base = os.path.join(directory, "cifar-10-batches-bin") if os.path.isdir(os.path.join(directory, "cifar-10-batches-bin")) else directory

        def read(names):
            raw = np.concatenate([np.fromfile(os.path.join(base, n), np.uint8) for n in names]).reshape(-1, 3073)
            return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0]
        train, _ = read([f"data_batch_{i}.bin" for i in range(1, 6)])
        images, labels = read(["test_batch.bin"])
    else:
        sys.exit(f"dataset {dataset}: this script evaluates image datasets only")
    train = train.astype(np.float64) / 255
    mean = train.mean(axis=(0, 2, 3), keepdims=True)
    std = train.std(axis=(0, 2, 3), keepdims=True)
    x = ((images.astype(np.float64) / 255 - mean) / std).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--data", default=os.environ.get("BNLAB_DATA", "/usr/share/datasets/fashion-mnist"))
    args = ap.parse_args()
    config = json.load(open(os.path.join(args.run_dir, "config.json")))
    state, metadata = load_safetensors(os.path.join(args.run_dir, "model.safetensors"))
    x, y = load_images(config["dataset"], args.data)
    if config.get("test_limit"):
        x, y = x[:config["test_limit"]], y[:config["test_limit"]]
    model = bnlab_models.build(config, list(x.shape[1:]), 10)
    model.load_state_dict(state, strict=True)  # raises on any missing, unexpected or misshapen key
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    print(json.dumps({
        "run": args.run_dir, "step": int(metadata.get("step", -1)), "keys": len(state), "strict": True,
        "test_examples": len(y), "test_loss": F.cross_entropy(logits, y).item(),
        "test_accuracy": (logits.argmax(1) == y).double().mean().item(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
