#!/usr/bin/env python3
"""Peak resident memory of a PyTorch VGG-11(-BN) training run: the model, SGD (momentum 0.9) and
cross-entropy of ../shared/peer/torch_bench.py, N steps on a [128,3,32,32] batch. Prints one JSON
line with the peak RSS before the first step (libraries and model) and after the steps, in MiB.
The bench (bench/BatchNormLab.Bench --memory) runs it beside its own measurement.

    /usr/bin/python3 tools/torch/vgg_memory.py [--bn] [--steps 5] [--threads 2]
"""
import argparse
import json
import resource

import torch
import torch.nn as nn

VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def vgg11(bn):
    """torch_bench.py's VGG-11 for [3,32,32] inputs, with or without BatchNorm2d after each conv."""
    layers, c = [], 3
    for v in VGG11:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1)] + ([nn.BatchNorm2d(v)] if bn else []) + [nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 10))


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bn", action="store_true")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = vgg11(args.bn)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
    loss = nn.CrossEntropyLoss()
    before = peak_mib()
    for _ in range(args.steps):
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    print(json.dumps({"name": f"vgg11{'_bn' if args.bn else ''}_train_memory", "peak_mib": round(peak_mib(), 1),
                      "before_steps_mib": round(before, 1), "steps": args.steps, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
