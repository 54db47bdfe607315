#!/usr/bin/env python3
"""Golden state-dict keys and shapes of the PyTorch twins of BatchNormLab's models
(tools/torch/bnlab_models.py), for tests/BatchNormLab.Tests/Models/ModelKeyTests.cs.

    /usr/bin/python3 tools/golden/make_model_keys_golden.py > tests/BatchNormLab.Tests/Golden/Models/model_keys.json
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "torch"))
import bnlab_models  # noqa: E402


def options(norm, placement="before-activation"):
    return {"norm": norm, "placement": placement, "activation": "relu", "init": "pytorch"}


CASES = [
    ("mlp_bn", {"name": "mlp", "options": options("batch-norm"), "hidden": [32, 16], "width": 1, "depth": 25}, [1, 28, 28], 10),
    ("mlp_bn_after", {"name": "mlp", "options": options("batch-norm", "after-activation"), "hidden": [8], "width": 1, "depth": 25}, [4], 3),
    ("dln_bn", {"name": "dln", "options": options("batch-norm"), "hidden": None, "width": 10, "depth": 5}, [10], 10),
    ("vgg11_bn_quarter_28", {"name": "vgg11", "options": options("batch-norm"), "hidden": None, "width": 0.25, "depth": 25}, [1, 28, 28], 10),
    ("vgg16_none_32", {"name": "vgg16", "options": options("none"), "hidden": None, "width": 0.125, "depth": 25}, [3, 32, 32], 10),
    ("resnet20_bn", {"name": "resnet20", "options": options("batch-norm"), "hidden": None, "width": 1, "depth": 25}, [3, 32, 32], 10),
    ("resnet8_none", {"name": "resnet8", "options": options("none"), "hidden": None, "width": 1, "depth": 25}, [1, 28, 28], 10),
    ("vgg11_noisy_bn_eighth_28", {"name": "vgg11", "options": options("noisy-batch-norm"), "hidden": None, "width": 0.125, "depth": 25}, [1, 28, 28], 10),
    ("mlp_noise_after", {"name": "mlp", "options": options("noise", "after-activation"), "hidden": [8, 8], "width": 1, "depth": 25}, [4], 3),
    ("mlp_l1", {"name": "mlp", "options": options("l1"), "hidden": [8], "width": 1, "depth": 25}, [4], 3),
    ("vgg11_l2_eighth_28", {"name": "vgg11", "options": options("l2"), "hidden": None, "width": 0.125, "depth": 25}, [1, 28, 28], 10),
    ("resnet8_linf", {"name": "resnet8", "options": options("linf"), "hidden": None, "width": 1, "depth": 25}, [1, 28, 28], 10),
]

golden = {}
for name, spec, sample, outputs in CASES:
    model = bnlab_models.build({"model": spec}, sample, outputs)
    golden[name] = {
        "model": spec, "sample": sample, "outputs": outputs,
        "keys": [[k, list(v.shape)] for k, v in model.state_dict().items()],
    }
json.dump(golden, sys.stdout, indent=1)
print()
