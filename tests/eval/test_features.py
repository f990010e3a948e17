"""The Inception path of FID/KID, driven by weights the test makes (no download), and its offline message."""

from urllib.error import URLError

import pytest
import torch
from torch_fidelity import feature_extractor_inceptionv3 as inception_module

from pairless.errors import PairlessError
from pairless.eval.features import INCEPTION_FILE, InceptionFeatures


def test_inception_features_from_a_weights_file(inception_weights):
    extractor = InceptionFeatures(torch.device("cpu"), inception_weights)
    images = torch.randint(0, 256, (3, 3, 40, 40), dtype=torch.uint8)
    features = extractor(images)
    assert features.shape == (3, 2048) and torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1], rtol=1e-3, atol=0)  # random weights: features near 1e-8
    assert torch.equal(extractor(images[:1]), features[:1])


def test_offline_without_weights_names_the_file_and_the_option(monkeypatch):
    def no_network(*args, **kwargs):
        raise URLError("network unreachable")

    monkeypatch.setattr(inception_module, "load_state_dict_from_url", no_network)
    with pytest.raises(PairlessError) as error:
        InceptionFeatures(torch.device("cpu"))
    message = str(error.value)
    assert INCEPTION_FILE in message and "--inception-weights" in message and "--features local" in message


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(PairlessError, match="--inception-weights .*nothing.pth: file not found"):
        InceptionFeatures(torch.device("cpu"), tmp_path / "nothing.pth")


@pytest.mark.parametrize("content", [b"not a weights file at all", "state dict"])
def test_a_file_that_is_not_the_inception_weights_is_named(tmp_path, content):
    path = tmp_path / "weights.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save({"conv.weight": torch.zeros(2)}, path)  # a state dict, of another network
    with pytest.raises(PairlessError, match=rf"--inception-weights {path} is not the Inception weights file "
                                            rf"FID/KID expect \({INCEPTION_FILE}"):
        InceptionFeatures(torch.device("cpu"), path)
