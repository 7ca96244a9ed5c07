#!/usr/bin/python3
"""Reference values for tests/test_optimizer.cpp, from torch.optim (PyTorch 1.13).

Run with the system Python that has torch:  /usr/bin/python3 tests/reference/optimizer_reference.py
It prints, for each optimizer configuration, the parameter after each of three
steps with fixed, hand-fed gradients; the test pastes these numbers as literals.
"""
import torch

initial = [0.5, -1.0, 2.0, -0.25, 3.0]
gradients = [
    [0.1, -0.2, 0.3, -0.4, 0.5],
    [-0.3, 0.1, 0.2, 0.05, -1.0],
    [0.25, 0.25, -0.5, 0.0, 2.0],
]

configurations = [
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1)),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1)),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_weight_decay", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("adam", torch.optim.Adam, dict(lr=0.01)),
    ("adam_weight_decay", torch.optim.Adam,
     dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
]

for name, optimizer_class, options in configurations:
    param = torch.nn.Parameter(torch.tensor(initial, dtype=torch.float32))
    optimizer = optimizer_class([param], **options)
    print(f"// {name}: {options}")
    for step, gradient in enumerate(gradients, start=1):
        param.grad = torch.tensor(gradient, dtype=torch.float32)
        optimizer.step()
        values = ", ".join(f"{v:.9g}f" for v in param.detach().tolist())
        print(f"  {{{values}}},  // after step {step}")

# Learning-rate schedules: the rate PyTorch's schedulers give at chosen epochs
# (scheduler.step() once per epoch; epoch 0 is before the first call).
schedules = [
    ("StepLR(step_size=3, gamma=0.5)", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    ("MultiStepLR(milestones=[2, 5], gamma=0.1)",
     lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5], gamma=0.1)),
    ("CosineAnnealingLR(T_max=8)", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8)),
    ("CosineAnnealingLR(T_max=8, eta_min=0.01)",
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.01)),
]
for name, make in schedules:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = make(optimizer)
    rates = []
    for epoch in range(9):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    print(f"// {name}, base 0.1, epochs 0..8")
    print("  {" + ", ".join(f"{r:.9g}f" for r in rates) + "},")
