#!/usr/bin/python3
"""branchy_torch.py -- the five branchy networks written again in PyTorch.

build_network(name, config) returns a module whose state_dict names are the
tensor names of branchy's checkpoints, so a model file loads with
load_state_dict. `config` is the JSON object in the file's "config" metadata
(every setting, plus channels/height/width/classes). The networks are written
from docs/NETWORKS.md and the layer definitions in layers/*.h, independently
of the C++ code: they are the oracle for tests/reference/check_networks_pytorch.py
and tests/reference/check_checkpoint_pytorch.py.

The model's forward returns the logits of every exit, branch 0 first. Dropout
layers are MaskedDropout: in training they multiply by a mask set from outside
(branchy draws its own, which PyTorch cannot reproduce); in eval the identity.
"""
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


class Branchy(nn.Module):
    """stage0 -> branch0, stage1 -> branch1, ..., as nets/branchy_net.h wires them."""

    def __init__(self, stages, branches):
        super().__init__()
        for i, s in enumerate(stages):
            self.add_module(f"stage{i}", s)
        for i, b in enumerate(branches):
            self.add_module(f"branch{i}", b)
        self.count = len(stages)

    def forward(self, x):
        exits = []
        for i in range(self.count):
            x = getattr(self, f"stage{i}")(x)
            if i < self.count - 1:
                exits.append(getattr(self, f"branch{i}")(x))
        return exits + [x]


class MaskedDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = None

    def forward(self, x):
        if not self.training:
            return x
        if self.mask is None:
            raise RuntimeError("MaskedDropout in training needs a mask")
        return x * self.mask


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def seq(layers):
    return nn.Sequential(OrderedDict(layers))


def pool32():
    """Max-pooling 3x3 stride 2 in ceil mode (Chainer's cover_all)."""
    return nn.MaxPool2d(3, 2, ceil_mode=True)


def lrn():
    """Chainer's local_response_normalization(n=3, alpha=5e-5, beta=0.75, k=2) in PyTorch's formula."""
    return nn.LocalResponseNorm(3, alpha=3 * 5e-5, beta=0.75, k=2.0)


def conv(cin, cout, kernel, stride=1, groups=1, bias=True):
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=bias)


def with_classifier(layers, in_shape, name, classes):
    """Appends flatten and a linear layer sized by probing what `layers` give for `in_shape`."""
    layers = layers + [("flatten", nn.Flatten())]
    with torch.no_grad():
        features = seq(layers).eval()(torch.zeros(1, *in_shape)).shape[1]
    return layers + [(name, nn.Linear(features, classes))]


def output_shape(module, in_shape):
    with torch.no_grad():
        return tuple(module.eval()(torch.zeros(1, *in_shape)).shape[1:])


# --- lenet / b-lenet (nets/lenet.cpp) ----------------------------------------

def pool_relu(suffix):
    return [("pool" + suffix, nn.MaxPool2d(2, 2, ceil_mode=True)), ("relu" + suffix, nn.ReLU())]


def lenet_tail(cfg, classes, in_shape):
    layers = pool_relu("1") + [("conv2", nn.Conv2d(cfg["conv1"], cfg["conv2"], 5, padding=3))]
    layers += pool_relu("2") + [("conv3", nn.Conv2d(cfg["conv2"], cfg["conv3"], 5, padding=3))]
    layers += pool_relu("3")
    layers = with_classifier(layers, in_shape, "fc1", cfg["fc"])
    return layers + [("fc2", nn.Linear(cfg["fc"], classes))]


def build_lenet(cfg, branchy):
    c, classes = cfg["channels"], cfg["classes"]
    conv1 = ("conv1", nn.Conv2d(c, cfg["conv1"], 5, padding=3))
    h0 = (cfg["conv1"], cfg["height"] + 2, cfg["width"] + 2)
    if not branchy:
        return Branchy([seq([conv1] + lenet_tail(cfg, classes, h0))], [])
    branch = pool_relu("1") + [("conv", nn.Conv2d(cfg["conv1"], cfg["branch_conv"], 3, padding=1))]
    branch = with_classifier(branch + pool_relu("2"), h0, "fc", classes)
    return Branchy([seq([conv1]), seq(lenet_tail(cfg, classes, h0))], [seq(branch)])


# --- b-alexnet (nets/alexnet.cpp) --------------------------------------------

def build_b_alexnet(cfg):
    c, classes = cfg["channels"], cfg["classes"]

    def norm(suffix):  # BranchyNet's norm(): ReLU, pool, LRN
        return [("relu" + suffix, nn.ReLU()), ("pool" + suffix, pool32()), ("lrn" + suffix, lrn())]

    stage0 = seq([("conv1", conv(c, cfg["conv1"], 5)), ("relu1", nn.ReLU()), ("pool1", pool32()),
                  ("lrn1", lrn()), ("conv2", conv(cfg["conv1"], cfg["conv2"], 5))])
    h0 = output_shape(stage0, (c, cfg["height"], cfg["width"]))
    b0 = cfg["branch0_conv"]
    branch0 = norm("1") + [("conv1", conv(cfg["conv2"], b0, 3)), ("relu2", nn.ReLU()),
                           ("conv2", conv(b0, b0, 3)), ("relu3", nn.ReLU()), ("pool3", pool32())]
    stage1 = seq(norm("2") + [("conv3", conv(cfg["conv2"], cfg["conv3"], 3))])
    h1 = output_shape(stage1, h0)
    branch1 = norm("1") + [("conv", conv(cfg["conv3"], cfg["branch1_conv"], 3)), ("relu2", nn.ReLU()),
                           ("pool2", pool32())]
    stage2 = [("relu3", nn.ReLU()), ("conv4", conv(cfg["conv3"], cfg["conv4"], 3)), ("relu4", nn.ReLU()),
              ("conv5", conv(cfg["conv4"], cfg["conv5"], 3)), ("relu5", nn.ReLU()), ("pool5", pool32())]
    stage2 = with_classifier(stage2, h1, "fc1", cfg["fc1"])
    stage2 += [("relu6", nn.ReLU()), ("dropout6", MaskedDropout()), ("fc2", nn.Linear(cfg["fc1"], cfg["fc2"])),
               ("relu7", nn.ReLU()), ("dropout7", MaskedDropout()), ("fc3", nn.Linear(cfg["fc2"], classes))]
    return Branchy([stage0, stage1, seq(stage2)],
                   [seq(with_classifier(branch0, h0, "fc", classes)), seq(with_classifier(branch1, h1, "fc", classes))])


# --- residual blocks (layers/residual.h) -------------------------------------

class ZeroPadShortcut(nn.Module):
    """Option A of He et al.: x[:, :, ::s, ::s] with (out - in) // 2 zero channels in front, the rest after."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.front, self.back, self.stride = (cout - cin) // 2, cout - cin - (cout - cin) // 2, stride

    def forward(self, x):
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.front, self.back))


def shortcut(cin, cout, stride, zero_pad):
    if cin == cout and stride == 1:
        return nn.Identity()
    if zero_pad:
        return ZeroPadShortcut(cin, cout, stride)
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, zero_pad):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, stride, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv(cout, cout, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = shortcut(cin, cout, stride, zero_pad)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class Bottleneck(nn.Module):
    def __init__(self, cin, width, cout, stride, groups):
        super().__init__()
        self.conv1 = conv(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv(width, width, 3, stride, groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = shortcut(cin, cout, stride, False)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        return F.relu(self.bn3(self.conv3(h)) + self.shortcut(x))


def stem(c, width):
    return seq([("conv", conv(c, width, 3, bias=False)), ("bn", nn.BatchNorm2d(width)), ("relu", nn.ReLU())])


# --- b-resnet (nets/resnet.cpp) ----------------------------------------------

def build_b_resnet(cfg):
    c, classes = cfg["channels"], cfg["classes"]
    n = (cfg["depth"] - 2) // 6
    w, b0, b1 = cfg["base_channels"], cfg["branch0_width"], cfg["branch1_width"]
    stage0 = stem(c, w)
    h0 = (w, cfg["height"], cfg["width"])
    branch0 = [("conv1", conv(w, b0, 5)), ("relu1", nn.ReLU()), ("lrn", lrn()), ("conv2", conv(b0, b0 // 2, 3)),
               ("relu2", nn.ReLU()), ("conv3", conv(b0 // 2, b0 // 2, 3)), ("relu3", nn.ReLU()), ("pool", pool32())]
    blocks = []  # (cin, cout, stride) of block 1, 2, ...
    for cin, cout, stride in ((w, w, 1), (w, 2 * w, 2), (2 * w, 4 * w, 2)):
        blocks += [(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)]
    named = [(f"block{i + 1}", BasicBlock(*spec, zero_pad=True)) for i, spec in enumerate(blocks)]
    stage1 = seq(named[:n])
    branch1 = [("block", BasicBlock(w, b1, 1, zero_pad=False)), ("pool", pool32())]
    stage2 = seq(named[n:] + [("pool", GlobalAvgPool()), ("fc", nn.Linear(4 * w, classes))])
    return Branchy([stage0, stage1, stage2],
                   [seq(with_classifier(branch0, h0, "fc", classes)), seq(with_classifier(branch1, h0, "fc", classes))])


# --- b-resnext (nets/resnext.cpp) --------------------------------------------

def build_b_resnext(cfg):
    c, classes = cfg["channels"], cfg["classes"]
    n = (cfg["depth"] - 2) // 9
    card, d, s = cfg["cardinality"], cfg["base_width"], cfg["stem_channels"]
    o = [cfg["stage1_channels"], cfg["stage2_channels"], cfg["stage3_channels"]]
    b0, b1 = cfg["branch0_width"], cfg["branch1_width"]
    stage0 = stem(c, s)
    h0 = (s, cfg["height"], cfg["width"])
    branch0 = [("conv1", conv(s, b0, 3)), ("relu1", nn.ReLU()), ("pool1", pool32()), ("conv2", conv(b0, b0, 3)),
               ("relu2", nn.ReLU()), ("pool2", pool32())]
    blocks = []  # (cin, width, cout, stride)
    cin = s
    for stage in range(3):
        width = card * d * 2 ** stage
        for i in range(n):
            blocks.append((cin, width, o[stage], 2 if stage > 0 and i == 0 else 1))
            cin = o[stage]
    named = [(f"block{i + 1}", Bottleneck(*spec, groups=card)) for i, spec in enumerate(blocks)]
    stage1 = seq(named[:n])
    h1 = (o[0], cfg["height"], cfg["width"])
    branch1 = [("block", Bottleneck(o[0], card * d, b1, 1, card)), ("pool", pool32())]
    stage2 = seq(named[n:] + [("pool", GlobalAvgPool()), ("fc", nn.Linear(o[2], classes))])
    return Branchy([stage0, stage1, stage2],
                   [seq(with_classifier(branch0, h0, "fc", classes)), seq(with_classifier(branch1, h1, "fc", classes))])


# --- b-densenet (nets/densenet.cpp; blocks as torchvision's densenet.py) -----

class DenseLayer(nn.Module):
    def __init__(self, cin, growth, factor):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        if factor > 0:
            self.conv1 = nn.Conv2d(cin, factor * growth, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(factor * growth)
            self.conv2 = nn.Conv2d(factor * growth, growth, 3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(cin, growth, 3, padding=1, bias=False)
        self.factor = factor

    def forward(self, x):
        h = self.conv1(F.relu(self.norm1(x)))
        if self.factor > 0:
            h = self.conv2(F.relu(self.norm2(h)))
        return torch.cat([x, h], 1)


def dense_block(cin, layers, growth, factor):
    return seq([(f"denselayer{i + 1}", DenseLayer(cin + i * growth, growth, factor)) for i in range(layers)])


def transition(cin, cout):
    return seq([("norm", nn.BatchNorm2d(cin)), ("relu", nn.ReLU()), ("conv", nn.Conv2d(cin, cout, 1, bias=False)),
                ("pool", nn.AvgPool2d(2, 2))])


def build_b_densenet(cfg):
    c, classes = cfg["channels"], cfg["classes"]
    m, k, f, theta = (cfg["depth"] - 4) // 6, cfg["growth"], cfg["bottleneck"], cfg["compression"]
    b0, b1 = cfg["branch0_width"], cfg["branch1_width"]

    def compressed(channels):  # floor(theta * channels), at least 1, theta in float32 as in C++
        return max(1, math.floor(float(torch.tensor(theta, dtype=torch.float32)) * channels))

    c0 = 2 * k
    c1 = compressed(c0 + m * k)
    c2 = compressed(c1 + m * k)
    c3 = c2 + m * k
    stage0 = seq([("conv0", nn.Conv2d(c, c0, 3, padding=1, bias=False)), ("denseblock1", dense_block(c0, m, k, f)),
                  ("transition1", transition(c0 + m * k, c1))])
    h0 = output_shape(stage0, (c, cfg["height"], cfg["width"]))
    branch0 = [("norm", nn.BatchNorm2d(c1)), ("relu", nn.ReLU()), ("conv1", conv(c1, b0, 3)), ("relu1", nn.ReLU()),
               ("pool1", pool32()), ("conv2", conv(b0, b0, 3)), ("relu2", nn.ReLU()), ("pool2", pool32())]
    stage1 = seq([("denseblock2", dense_block(c1, m, k, f)), ("transition2", transition(c1 + m * k, c2))])
    h1 = output_shape(stage1, h0)
    branch1 = [("norm", nn.BatchNorm2d(c2)), ("relu", nn.ReLU()), ("conv1", conv(c2, b1, 3)), ("relu1", nn.ReLU()),
               ("conv2", conv(b1, b1, 3)), ("relu2", nn.ReLU()), ("pool", pool32())]
    stage2 = seq([("denseblock3", dense_block(c2, m, k, f)), ("norm", nn.BatchNorm2d(c3)), ("relu", nn.ReLU()),
                  ("pool", GlobalAvgPool()), ("fc", nn.Linear(c3, classes))])
    return Branchy([stage0, stage1, stage2],
                   [seq(with_classifier(branch0, h0, "fc", classes)), seq(with_classifier(branch1, h1, "fc", classes))])


def build_network(name, cfg):
    builders = {
        "lenet": lambda: build_lenet(cfg, False),
        "b-lenet": lambda: build_lenet(cfg, True),
        "b-alexnet": lambda: build_b_alexnet(cfg),
        "b-resnet": lambda: build_b_resnet(cfg),
        "b-resnext": lambda: build_b_resnext(cfg),
        "b-densenet": lambda: build_b_densenet(cfg),
    }
    if name not in builders:
        raise SystemExit(f"no PyTorch twin for network {name!r} (known: {', '.join(builders)})")
    return builders[name]()


def load_branchy_weights(model, tensors):
    """Loads branchy's tensors into `model` by name. PyTorch's BN counter num_batches_tracked is
    the only state branchy does not keep; anything else missing or extra is an error."""
    weights = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("optimizer.")}
    result = model.load_state_dict(weights, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise SystemExit(f"state_dict mismatch: missing {missing[:8]}, unexpected {result.unexpected_keys[:8]}")
