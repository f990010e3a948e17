"""A method's training recipe in words, for `pairless models NAME`: schedule, discriminator steps, image
pool and what each training sample looks like, read from a (resolved) run configuration."""

from __future__ import annotations

import yaml

from pairless.config import RunConfig
from pairless.models.registry import get_method
from pairless.train.datasets import data_kind


def method_summary(method: str, preset: str | None = None) -> str:
    """The method's description, recipe and presets as YAML comments, then its configuration as YAML."""
    cfg = RunConfig.defaults(method, preset)
    header = [f"{method}: {get_method(method).description}" + (f" (--preset {preset})" if preset else ""),
              "recipe:", *(f"  {line}" for line in recipe_lines(cfg))]
    if preset_lines(method):
        header += ["presets (--preset NAME):", *(f"  {line}" for line in preset_lines(method))]
    comments = "".join(f"# {line}\n" for line in header)
    return comments + yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def recipe_lines(cfg: RunConfig) -> list[str]:
    """Short lines describing how `cfg` trains (the run's settings, not the method's history)."""
    cfg = cfg.resolved()
    return [f"length: {length(cfg)}", f"learning rate: {learning_rate(cfg)}",
            f"discriminator: {discriminator_steps(cfg)}", f"image pool: {image_pool(cfg)}",
            f"training images: {sample_framing(cfg)}"]


def length(cfg: RunConfig) -> str:
    t = cfg.train
    unit = ("iterations (one generator step each)" if getattr(cfg.model, "d_steps", None) else "iterations")
    if t.steps is not None:
        return f"{t.steps:,} {unit}"
    return f"{t.epochs:g} epochs (passes over the training data: the larger domain, or the labelled images), converted to {unit}"


def learning_rate(cfg: RunConfig) -> str:
    t = cfg.train
    if t.decay_fraction == 0:
        return f"{t.lr:g}, constant"
    return f"{t.lr:g}, constant, then linear decay to 0 over the last {t.decay_fraction:.0%} of the iterations"


def discriminator_steps(cfg: RunConfig) -> str:
    d_steps = getattr(cfg.model, "d_steps", None)
    if d_steps is not None:
        return (f"{d_steps} step(s) per generator step, each on a fresh batch of real images with fresh noise "
                f"and labels; --steps and the learning-rate schedule count generator steps")
    n_critic = getattr(cfg.model, "n_critic", None)
    if n_critic is not None:
        return f"{n_critic} critic step(s) per generator step on the iteration's batch"
    return "1 step per generator step"


def image_pool(cfg: RunConfig) -> str:
    size = getattr(cfg.model, "pool_size", 0)
    return f"the last {size} generated images per domain" if size else "none (the current generated images)"


def sample_framing(cfg: RunConfig) -> str:
    d = cfg.data
    flips = "random horizontal flips" if d.flip else "no flips"
    if data_kind(cfg.method) == "labelled":
        return f"resized to {d.size} px (no crop), {flips}"
    framing = {
        "resize_and_crop": f"resized to {d.resolved_load_size} px, random {d.size} px crop",
        "crop": f"random {d.size} px crop",
        "zoom_and_patch": f"random zoom (1/{d.random_scale_max:g} to 1) of the one image, random {d.size} px patch",
    }.get(d.preprocess, f"--preprocess {d.preprocess} (load size {d.resolved_load_size}, crop {d.size})")
    if d.full_frame_decay and cfg.train.decay_fraction > 0:
        framing += f"; while the learning rate decays, the whole image resized to {d.size} px (no crop)"
    return f"{framing}, {flips}"


def preset_lines(method: str) -> list[str]:
    return [f"{name}: {preset.description}" for name, preset in get_method(method).presets.items()]
