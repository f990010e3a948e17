"""pairless: unpaired image-to-image translation and contrastive GANs."""

__version__ = "0.1.0"


def load(path, device: str = "auto"):
    """Load a checkpoint (a .safetensors file or a run folder) for inference: `.translate(images)`."""
    from pairless.translator import Translator

    return Translator.load(path, device)
