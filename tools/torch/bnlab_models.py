"""PyTorch twins of BatchNormLab's models (src/BatchNormLab/Models), built from a bnlab config.json,
with the same state-dict keys and shapes, so a bnlab checkpoint loads with load_state_dict(strict=True)."""
import re

import torch.nn as nn

VGG = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def activation(options):
    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[options["activation"]]()


def block(layer, make_norm, options, activate=True):
    """layer, then BN and activation in the configured order (bnlab's ModelOptions.Block)."""
    norm = options["norm"] == "batch-norm"
    before = options["placement"] == "before-activation"
    out = [layer]
    if norm and (before or not activate):
        out.append(make_norm())
    if activate:
        out.append(activation(options))
    if norm and not before and activate:
        out.append(make_norm())
    return out


class Vgg(nn.Module):
    def __init__(self, depth, in_channels, size, classes, width, options):
        super().__init__()
        layers, c = [], in_channels
        for v in VGG[depth]:
            if v == "M":
                if size >= 2:
                    layers.append(nn.MaxPool2d(2))
                    size //= 2
                continue
            o = max(1, int(round(v * width)))
            layers += block(nn.Conv2d(c, o, 3, padding=1), lambda o=o: nn.BatchNorm2d(o), options)
            c = o
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * size * size, classes)

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, options):
        super().__init__()
        self.options = options
        norm = options["norm"] == "batch-norm"
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout) if norm else None
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout) if norm else None
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), *([nn.BatchNorm2d(cout)] if norm else []))
        self.act = activation(options)

    def forward(self, x):
        y = norm_activate(self.conv1(x), self.bn1, self.act, self.options)
        y = self.conv2(y)
        if self.bn2 is not None:
            y = self.bn2(y)
        return self.act(y + (x if self.shortcut is None else self.shortcut(x)))


def norm_activate(x, bn, act, options):
    if bn is None:
        return act(x)
    return act(bn(x)) if options["placement"] == "before-activation" else bn(act(x))


class ResNetCifar(nn.Module):
    def __init__(self, depth, in_channels, classes, options):
        super().__init__()
        n = (depth - 2) // 6
        self.options = options
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16) if options["norm"] == "batch-norm" else None
        self.act = activation(options)
        c, stages = 16, []
        for s in range(3):
            w = 16 << s
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(c, w, 2 if b == 0 and s > 0 else 1, options))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(c, classes)

    def forward(self, x):
        x = norm_activate(self.conv1(x), self.bn1, self.act, self.options)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = nn.functional.avg_pool2d(x, x.shape[2]).flatten(1)
        return self.linear(x)


def build(config, sample, outputs):
    """The model of a bnlab config.json for one input of shape `sample` ([C, H, W] or [D])."""
    spec = config["model"]
    name, options = spec["name"], spec["options"]
    features = 1
    for d in sample:
        features *= d
    if name == "mlp":
        layers, width = [nn.Flatten()], features
        for h in spec.get("hidden") or [256, 256]:
            layers += block(nn.Linear(width, h), lambda h=h: nn.BatchNorm1d(h), options)
            width = h
        return nn.Sequential(*layers, nn.Linear(width, outputs))
    if name == "dln":
        width, layers = int(spec["width"]), []
        for i in range(spec["depth"]):
            layer = nn.Linear(width, width, bias=False)
            layers += [layer] if i == spec["depth"] - 1 else block(layer, lambda: nn.BatchNorm1d(width), options, activate=False)
        return nn.Sequential(*layers)
    if m := re.fullmatch(r"vgg(\d+)", name):
        return Vgg(int(m.group(1)), sample[0], sample[1], outputs, spec["width"], options)
    if m := re.fullmatch(r"resnet(\d+)", name):
        return ResNetCifar(int(m.group(1)), sample[0], outputs, options)
    raise ValueError(f"unknown model {name}")
