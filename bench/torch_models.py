"""PyTorch twins of Zoo's catalog models (Sources/ZooNN/Catalog/Models.swift), and a FLOP counter.

Each twin has the layers, order and parameter count of the Zoo model of the same name; the
parameter counts are checked by `python bench/torch_models.py` against the numbers in the Zoo
catalog's documentation. Initialization is PyTorch's default, which Zoo's default
(`init=pytorch-default`) reproduces in distribution.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> (input shape without the batch axis, parameter count in Zoo's catalog)
MODELS = {
    "zoo-cnn": ((1, 28, 28), 2_464),
    "lenet5": ((1, 28, 28), 61_706),
    "mlp": ((1, 28, 28), 269_322),
    "resnet20": ((3, 32, 32), 269_722),
    "cnn1d": ((1, 40), 5_210),
}


def zoo_cnn(classes=10):
    """Model Zoos CNN (Schürholt et al. 2022): conv-pool-tanh ×2, conv-tanh, two linear layers."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), nn.Tanh(),
        nn.Conv2d(8, 6, 5), nn.MaxPool2d(2), nn.Tanh(),
        nn.Conv2d(6, 4, 2), nn.Tanh(),
        nn.Flatten(), nn.Linear(36, 20), nn.Tanh(), nn.Linear(20, classes),
    )


def lenet5(classes=10):
    """LeNet-5 for 28×28 inputs with padding 2 on the first convolution, ReLU and max-pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes),
    )


def mlp(classes=10, inputs=784, hidden=(256, 256)):
    layers, width = [nn.Flatten()], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, classes))


def cnn1d(classes=10, channels=25, length=40):
    """MNIST-1D ConvBase (Greydanus 2020): three stride-2 convolutions with padding 1, ReLU, linear."""
    out = lambda n, k: (n + 2 - k) // 2 + 1
    final = out(out(out(length, 5), 3), 3)
    return nn.Sequential(
        nn.Conv1d(1, channels, 5, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(channels * final, classes),
    )


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); option A: subsample, zero-pad channels."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        s = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.extra > 0:
            s = F.pad(s, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(y + s)


class ResNet20(nn.Module):
    """ResNet-20 for CIFAR (He et al. 2016, §4.2) with the paper's option-A shortcuts."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, cin = [], 16
        for i, width in enumerate((16, 32, 64)):
            blocks = []
            for b in range(3):
                blocks.append(BasicBlock(cin, width, 2 if i > 0 and b == 0 else 1))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(x.mean(dim=(2, 3)))


BUILDERS = {"zoo-cnn": zoo_cnn, "lenet5": lenet5, "mlp": mlp, "resnet20": ResNet20, "cnn1d": cnn1d}


def make(name):
    return BUILDERS[name]()


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def forward_flops_per_sample(model, input_shape):
    """FLOPs (2 per multiply-add) of one sample's forward pass through the convolutions and
    linear layers, counted with forward hooks; activations, pooling and norms are left out."""
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            per_output = module.in_channels // module.groups
            for k in module.kernel_size:
                per_output *= k
            macs += output.numel() * per_output
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        model(torch.zeros((1,) + tuple(input_shape)))
    model.train(was_training)
    for h in handles:
        h.remove()
    return 2 * macs


if __name__ == "__main__":
    for name, (shape, zoo_count) in MODELS.items():
        model = make(name)
        count = parameter_count(model)
        status = "ok" if count == zoo_count else f"MISMATCH (Zoo has {zoo_count})"
        print(f"{name:9} {count:8} params {status:24} forward {forward_flops_per_sample(model, shape) / 1e6:8.3f} MFLOP/sample")
