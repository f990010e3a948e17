"""Optimisers built from a model's declared groups, the learning-rate schedule, and the Updater."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor

from pairless.models.base import Method, OptimizerGroup
from pairless.train.distributed import SINGLE, ProcessGroup, average_gradients
from pairless.train_config import TrainConfig


def decay_start(total_steps: int, decay_fraction: float) -> int:
    """The first step of the learning-rate decay phase (total_steps when there is none)."""
    return total_steps - round(total_steps * decay_fraction)


def lr_multiplier(step: int, total_steps: int, decay_fraction: float) -> float:
    """Constant, then linear decay to zero over the last `decay_fraction` of the steps (CycleGAN/CUT)."""
    start = decay_start(total_steps, decay_fraction)
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start + 1) / (total_steps - start + 1))


FUSED_ADAM_DEVICES = ("cpu", "cuda", "mps", "xpu")
"""Device types on which torch's Adam has a fused kernel."""


def optimizer_implementation(kind: str, cfg: TrainConfig, device_type: str) -> dict[str, bool | None]:
    """Which of torch's implementations an optimiser of `kind` uses (see TrainConfig.fused_optimizer).

    A fused Adam step is one kernel for all of an optimiser's parameters instead of about ten per
    parameter; the result agrees with the other implementations to rounding.
    """
    fast = cfg.fused_optimizer
    if kind == "rmsprop":
        return {"foreach": True if fast else None}
    fused = fast and device_type in FUSED_ADAM_DEVICES
    return {"fused": True if fused else None, "foreach": True if fast and not fused else None}


def build_optimizer(model: Method, group: OptimizerGroup, cfg: TrainConfig,
                    implementation: dict[str, bool | None]) -> torch.optim.Optimizer:
    params = [p for name in group.networks for p in getattr(model, name).parameters()]
    lr = group.lr if group.lr is not None else cfg.lr
    weight_decay = group.weight_decay if group.weight_decay is not None else cfg.weight_decay
    if group.kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay, foreach=implementation.get("foreach"))
    betas = group.betas if group.betas is not None else (cfg.beta1, cfg.beta2)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay,
                            foreach=implementation.get("foreach"), fused=implementation.get("fused"))


class Optimizers:
    """The model's optimisers; implements the `Updater` the models call for backward + step."""

    def __init__(self, model: Method, cfg: TrainConfig, device_type: str, precision: str,
                 process_group: ProcessGroup = SINGLE):
        self.model = model
        self.process_group = process_group
        model_groups = model.optimizer_groups()
        self.implementations = {g.name: optimizer_implementation(g.kind, cfg, device_type) for g in model_groups}
        self.groups = {g.name: build_optimizer(model, g, cfg, self.implementations[g.name]) for g in model_groups}
        self.base_lrs = {name: opt.param_groups[0]["lr"] for name, opt in self.groups.items()}
        self.device_type = device_type
        self.scaler = torch.amp.GradScaler(device_type) if precision == "fp16" else None
        self.scaled_steps: set[str] = set()
        """Groups stepped through the scaler since its last update (a scaler steps each optimiser once)."""

    def step(self, loss: Tensor, *groups: str) -> None:
        optimizers = [self.groups[g] for g in groups]
        if self.scaler and self.scaled_steps.intersection(groups):
            self.scaler.update()  # an optimiser stepped twice in one iteration (e.g. DualGAN's critic steps)
            self.scaled_steps.clear()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        # Backward runs outside autocast (the forward pass may have run inside it).
        with torch.autocast(self.device_type, enabled=False) if self.device_type != "mps" else nullcontext():
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        average_gradients((p for opt in optimizers for g in opt.param_groups for p in g["params"]),
                          self.process_group)
        for name, opt in zip(groups, optimizers, strict=True):
            if self.scaler:
                self.scaler.step(opt)
                self.scaled_steps.add(name)
            else:
                opt.step()
            self.model.after_optimizer_step(name)

    def end_iteration(self) -> None:
        if self.scaler:
            self.scaler.update()
            self.scaled_steps.clear()

    def set_lr_multiplier(self, multiplier: float) -> None:
        for name, opt in self.groups.items():
            for param_group in opt.param_groups:
                param_group["lr"] = self.base_lrs[name] * multiplier

    def state_dict(self) -> dict:
        return {"optimizers": {n: o.state_dict() for n, o in self.groups.items()},
                "scaler": self.scaler.state_dict() if self.scaler else None}

    def load_state_dict(self, state: dict) -> None:
        """Load saved optimiser states; they continue with this run's implementation, whichever one saved them."""
        for name, opt in self.groups.items():
            saved = state["optimizers"][name]
            groups = [{**group, **self.implementations[name]} for group in saved["param_groups"]]
            opt.load_state_dict({**saved, "param_groups": groups})
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
