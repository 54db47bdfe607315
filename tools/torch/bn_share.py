#!/usr/bin/env python3
"""The share of a PyTorch VGG-11-BN training step (the model, SGD momentum 0.9 and cross-entropy of
../shared/peer/torch_bench.py, batch [128,3,32,32]) that its BatchNorm layers take: the step's median
time, and each BatchNorm2d's training forward + backward timed on its own at the shape it sees in the
step. Prints one JSON line. The bench (bench/BatchNormLab.Bench --bn-share) runs it beside its own
measurement, the same way.

    /usr/bin/python3 tools/torch/bn_share.py [--threads 2]
"""
import argparse
import json
import time

import torch
import torch.nn as nn

from vgg_memory import vgg11

LAYERS = [(64, 32), (128, 16), (256, 8), (256, 8), (512, 4), (512, 4), (512, 2), (512, 2)]


def median_ms(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = vgg11(bn=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
    loss = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    step_ms = median_ms(step, runs=5, warmup=2)

    layer_ms = []
    for channels, size in LAYERS:
        bn = nn.BatchNorm2d(channels)
        xi = torch.randn(128, channels, size, size, requires_grad=True)
        g = torch.randn(128, channels, size, size)

        def fwd_bwd(bn=bn, xi=xi, g=g):
            xi.grad = None
            bn(xi).backward(g)
        layer_ms.append(round(median_ms(fwd_bwd, runs=7, warmup=3), 3))
    print(json.dumps({"name": "vgg11_bn_bn_share", "step_ms": round(step_ms, 3), "layer_ms": layer_ms,
                      "torch": torch.__version__, "threads": args.threads}))


if __name__ == "__main__":
    main()
