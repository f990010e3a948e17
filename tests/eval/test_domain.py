import pytest
import torch

from pairless.data.synthetic import make_synthetic_dataset
from pairless.eval import domain
from pairless.eval.distribution import fid
from pairless.eval.imageset import folder_paths, load_image_set


@pytest.fixture(scope="module")
def hue_data(tmp_path_factory):
    """The built-in hue task: orange objects (A) vs red/green ones (B), same backdrops."""
    return make_synthetic_dataset("hue", tmp_path_factory.mktemp("hue") / "hue", count=60, test_count=16, size=32)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAIRLESS_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def judge(hue_data, cache):
    return domain.domain_classifier_for(hue_data, torch.device("cpu"), steps=150)


def test_classifier_separates_domains_and_is_cached(hue_data, cache, judge, monkeypatch):
    monkeypatch.setenv("PAIRLESS_CACHE", str(cache))
    test_a = load_image_set(folder_paths(hue_data / "testA"), 32)
    test_b = load_image_set(folder_paths(hue_data / "testB"), 32)
    assert judge.share_judged(test_a, "A") >= 0.9
    assert judge.share_judged(test_b, "B") >= 0.9
    assert judge.info["test_accuracy"] >= 0.9
    assert len(list((cache / "domain").glob("*.safetensors"))) == 1
    again = domain.domain_classifier_for(hue_data, torch.device("cpu"), steps=150)
    assert again.info == judge.info
    assert torch.equal(again(test_a), judge(test_a))


def test_cache_key_follows_the_training_files(tmp_path):
    data = make_synthetic_dataset("hue", tmp_path / "hue", count=4, test_count=2, size=16)
    settings = {"steps": 10}
    before = domain.fingerprint(data, settings)
    assert domain.fingerprint(data, {"steps": 11}) != before
    folder_paths(data / "trainA")[0].unlink()
    assert domain.fingerprint(data, settings) != before


def test_classifier_training_leaves_the_global_random_stream_alone(hue_data, cache):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    domain.domain_classifier_for(hue_data, torch.device("cpu"), steps=5)
    assert torch.equal(torch.rand(3), expected)


def test_fid_local_is_zero_for_identical_sets_and_grows_with_a_shift(hue_data, judge):
    a = load_image_set(folder_paths(hue_data / "trainA"), 32)
    b = load_image_set(folder_paths(hue_data / "trainB"), 32)
    reference, others = a[:30], a[30:60]

    def shifted(share_b):
        """The other A images with a share of them replaced by B images: a growing domain shift."""
        count = round(share_b * len(others))
        return torch.cat([b[:count], others[count:]])

    distances = [fid(judge(reference), judge(shifted(share))) for share in (0.0, 0.5, 1.0)]
    assert distances[0] < distances[1] < distances[2]
    # 30 samples of 128-d features: the covariance is singular, so "zero" is zero up to rounding
    assert abs(fid(judge(reference), judge(reference))) < 1e-4 * distances[2]


def test_missing_domain_images_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PAIRLESS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "trainA").mkdir()
    with pytest.raises(Exception, match="trainA/ and trainB/"):
        domain.domain_classifier_for(tmp_path, torch.device("cpu"), steps=5)


def test_training_augmentation_flips_and_shifts_within_the_padding():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = domain.augment(images, torch.Generator().manual_seed(1))
    again = domain.augment(images, torch.Generator().manual_seed(1))
    assert out.shape == images.shape and out.dtype == torch.float32 and torch.equal(out, again)
    s = domain.SHIFT
    shifts = set()
    for image, seen in zip(images.float(), out, strict=True):
        padded = [torch.nn.functional.pad(v[None], (s,) * 4, mode="reflect")[0] for v in (image, image.flip(-1))]
        found = [(flip, dy, dx) for flip in (0, 1) for dy in range(2 * s + 1) for dx in range(2 * s + 1)
                 if torch.equal(padded[flip][:, dy:dy + 32, dx:dx + 32], seen)]
        assert found, "an augmented image is a shifted (and maybe flipped) copy of its source"
        shifts.add(found[0])
    assert len(shifts) > 32 and {flip for flip, _, _ in shifts} == {0, 1}
