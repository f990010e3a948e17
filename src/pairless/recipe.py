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
            f"discriminator: {cfg.model.discriminator_schedule()}", f"image pool: {image_pool(cfg)}",
            f"training images: {sample_framing(cfg)}"]


def length(cfg: RunConfig) -> str:
    t = cfg.train
    unit = "iterations (one generator step each)" if cfg.model.batches_per_step > 1 else "iterations"
    if t.steps is not None:
        return f"{t.steps:,} {unit}"
    return (f"{t.epochs:g} epochs (passes over the training data: the larger domain, or the labelled images), "
            f"converted to {unit}")


def learning_rate(cfg: RunConfig) -> str:
    t = cfg.train
    if t.decay_fraction == 0:
        return f"{t.lr:g}, constant"
    return f"{t.lr:g}, constant, then linear decay to 0 over the last {t.decay_fraction:.0%} of the iterations"


def image_pool(cfg: RunConfig) -> str:
    size = cfg.model.history_pool
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
