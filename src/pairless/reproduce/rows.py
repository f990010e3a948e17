"""The published rows pairless can train, each with the data set it needs and its evaluation protocol: every
choice (test images, size and resize, feature extractor, which checkpoint counts, training recipe) with
its source, paper text or reference code, as read for `../shared/methods.md` and `methods-detail.md`.

A row's training recipe is its method's defaults (the reference code's, see `pairless models NAME`), its
preset and the few `overrides` listed with it; its protocol is the --eval-... options it sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pairless.errors import PairlessError


@dataclass(frozen=True)
class Choice:
    topic: str
    ours: str
    """What pairless does (and where it differs from the paper, how)."""
    source: str
    """Where the paper's choice is written: the paper's text, the reference code, an issue."""


@dataclass(frozen=True)
class DataSet:
    name: str
    kind: Literal["unpaired", "labelled"]
    layout: str
    """The folders and counts `--data` must hold."""
    source: str
    """Where to get it and how to arrange it."""
    epoch_images: int
    """Training images of an epoch (the larger domain, or all labelled ones): the estimate before the
    folder is read (then its own count is used)."""
    classes: int | None = None


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    data: DataSet
    metric: Literal["fid", "kid"]
    paper: str
    """The value as the paper prints it (KID × 100 for U-GAT-IT)."""
    paper_source: str
    protocol: tuple[Choice, ...]
    expect: str
    eval_every: float = 5
    eval_unit: Literal["epochs", "iterations"] = "epochs"
    """How often the run is evaluated: in epochs (as the reference saved its checkpoints) or iterations."""
    preset: str | None = None
    overrides: Mapping[str, object] = field(default_factory=dict)
    """Config settings beyond the method's defaults and preset (e.g. a data set's own epoch count)."""
    eval_size: int = 256
    """The side the paper's evaluation resized the images to."""

    @property
    def scale(self) -> float:
        """The factor from pairless's value to the paper's printed one."""
        return 100.0 if self.metric == "kid" else 1.0

    @property
    def label(self) -> str:
        return "KID×100" if self.metric == "kid" else "FID"


HORSE2ZEBRA = DataSet(
    "horse2zebra", "unpaired",
    "trainA/ (1,067 horses), trainB/ (1,334 zebras), testA/ (120), testB/ (140); 256×256 JPEG",
    "the CycleGAN set: `bash datasets/download_cut_dataset.sh horse2zebra` in taesungp/contrastive-unpaired-"
    "translation (the same zip as the CycleGAN repository's download_cyclegan_dataset.sh)", 1334)
CAT2DOG = DataSet(
    "cat2dog", "unpaired",
    "trainA/ (AFHQ training cats), trainB/ (training dogs), testA/, testB/ (the 500 held-out cats and dogs); "
    "512×512",
    "AFHQ from clovaai/stargan-v2 (`bash download.sh afhq-dataset`), arranged as CUT's README says: "
    "trainA = afhq/train/cat, trainB = afhq/train/dog, testA and testB = the cat and dog folders of its "
    "held-out split", 5000)
SELFIE2ANIME = DataSet(
    "selfie2anime", "unpaired",
    "trainA/ (3,400 selfies), trainB/ (3,400 anime faces), testA/, testB/ (100 each)",
    "the selfie2anime set linked from taki0112/UGATIT's README (already in this layout)", 3400)
CITYSCAPES = DataSet(
    "cityscapes", "unpaired",
    "trainA/ (2,975 photos), trainB/ (their label maps), testA/, testB/ (500 validation photos and label "
    "maps); 256×256",
    "Cityscapes (cityscapes-dataset.com, registration needed: gtFine_trainvaltest and leftImg8bit_trainvaltest) "
    "through `datasets/prepare_cityscapes_dataset.py` of the CUT repository, which writes this layout; for "
    "the CUT, FastCUT and CycleGAN rows replace testA/testB by valA/valB of CUT's resized, JPEG-compressed "
    "validation copy (cityscapes_val_for_CUT.tar, linked from CUT's README)", 2975)
CIFAR10 = DataSet(
    "cifar10", "labelled",
    "train/<class>/ (50,000 images, 10 class folders) and test/<class>/ (10,000); 32×32 PNG",
    "CIFAR-10 (cs.toronto.edu/~kriz/cifar.html) written out as one folder of PNG files per class (pairless "
    "reads image folders, not CIFAR's pickled batches; torchvision.datasets.CIFAR10 reads those)", 50000, 10)

EVERY_TEST_IMAGE = Choice(
    "test images", "all: every testA image translated, compared with every testB image (--eval-images all)",
    "CUT README FID command (testB/ against the translations of the whole test split); methods-detail §2.6")
DCL_EVERY_TEST_IMAGE = Choice(
    "test images", EVERY_TEST_IMAGE.ours,
    "DCLGAN paper: all test images, pytorch-fid with default settings, 'to match CUT' (methods-detail §3.7)")
CITYSCAPES_CUT_TEST = Choice(
    "test images", "labels → photos (--direction BtoA): the 500 validation label maps of CUT's copy translated, "
    "compared with its 500 validation photos",
    "CUT README (FID on cityscapes_val_for_CUT) and experiments/pretrained_launcher.py (direction BtoA, phase val)")
CITYSCAPES_DCL_TEST = Choice(
    "test images", "labels → photos (--direction BtoA): the 500 validation label maps as "
    "prepare_cityscapes_dataset.py writes them, compared with the 500 validation photos",
    "DCLGAN issue #7: the original val set processed by prepare_cityscapes_dataset.py")
INCEPTION_PYTORCH_FID = Choice(
    "features",
    "Inception v3 with the TF 2015-12-05 weights through torch-fidelity (--eval-features inception); "
    "pytorch-fid, which the paper used, ports the same weights. The two resize to 299 px differently "
    "(TF-compatible bilinear vs torch bilinear): a small difference, not measured here",
    "CUT README: `python -m pytorch_fid testB/ fake_B/`; DCLGAN paper: pytorch-fid (methods-detail §3.7)")
SIZE_256 = Choice(
    "size and resize",
    "256 px: test inputs resized to 256×256 (bicubic, aspect ratio not kept, no crop) and translated at that "
    "size; real target images resized the same way (--eval-size 256; they are 256 px already)",
    "test options of the CUT / CycleGAN code: load_size = crop_size = 256 (methods-detail §0)")
SIZE_256_AFHQ = Choice(
    "size and resize",
    "256 px as for horse2zebra (--eval-size 256); deviation: CUT's FID command reads the real dogs from the "
    "data set folder at their own 512 px, pairless resizes them to 256 first (effect not measured)",
    "CUT test options (256 px translations); CUT README FID command (real side = the data set folder)")
BEST_OF_5_EPOCHS = Choice(
    "checkpoint",
    "evaluated every 5 epochs; best.safetensors = the best FID; the table gives best and last",
    "the reference saves a checkpoint every 5 epochs (--save_epoch_freq 5 in CUT's and CycleGAN's "
    "train_options.py); the published FIDs appear to be the best saved epoch (CUT issue #65)")
BEST_OF_50_EPOCHS = Choice(
    "checkpoint",
    "evaluated every 50 epochs; the table gives the best and the last FID",
    "DCLGAN's train_options.py saves every 50 epochs (--save_epoch_freq 50); the paper does not say which "
    "epoch it reports; its issue #9 reports FID getting worse late in training")
RECIPES = {
    "cyclegan": "pairless cyclegan defaults = the CycleGAN code's: 200 epochs (100 + 100 decay), pools of 50",
    "cut": "pairless cut defaults = CUT's code: 400 epochs (200 + 200 decay), lr 2e-4, 286 → 256 crops",
    "fastcut": "pairless fastcut defaults = CUT's code: 200 epochs (150 + 50 decay), λ_NCE 10, flip equivariance",
    "dclgan": "the DCLGAN code's defaults: 400 epochs, lr 2e-4 (its paper's text says 1e-4: --preset paper-text)",
    "simdcl": "the SimDCL code's defaults: 400 epochs, lr 2e-4 (its paper's text: --preset paper-text)",
}
CUT_EXPECT = ("the best FID is the one to read against the paper; the last is higher (reference users: 61-68 at "
              "epoch 400 for CUT's 45.5, CUT issue #65); seeds alone move FID by several points")


def recipe(method: str, note: str = "") -> Choice:
    return Choice("recipe", RECIPES[method] + note, "the reference code's defaults (`pairless models "
                  f"{method}`); methods.md")


def cut_table_rows(data: DataSet, values: dict[str, str], test_images: Choice, size: Choice,
                   overrides: Mapping[str, object] | None = None) -> list[Row]:
    """CycleGAN, CUT and FastCUT as the CUT paper's Table 1 trained and scored them on one data set."""
    return [Row(f"{method}-{data.name}", method, data, "fid", value, "CUT paper, Table 1",
                (test_images, size, INCEPTION_PYTORCH_FID, BEST_OF_5_EPOCHS, recipe(method)),
                CUT_EXPECT, eval_every=5, overrides=overrides or {})
            for method, value in values.items()]


def dcl_table_rows(data: DataSet, values: dict[str, str], test_images: Choice, epochs: int | None = None,
                   overrides: Mapping[str, object] | None = None) -> list[Row]:
    """DCLGAN and SimDCL as their paper's Table 1 reports them."""
    size = Choice("size and resize", SIZE_256.ours + "; DCLGAN's README compares fake_B with real_B, both "
                  "through the 256 px test pipeline, as here", "DCLGAN README; methods-detail §3.7")
    changes = {**(overrides or {}), **({"train.epochs": epochs} if epochs else {})}
    note = (f"; {epochs} epochs (--epochs {epochs}) as the paper's A.1.4 says for this data set (its Table 2: "
            "108 h at 0.41 s/iteration for DCLGAN agrees)") if epochs else ""
    return [Row(f"{method}-{data.name}", method, data, "fid", value, "DCLGAN paper, Table 1",
                (test_images, size, INCEPTION_PYTORCH_FID, BEST_OF_50_EPOCHS, recipe(method, note)),
                "the paper does not say whether its FID is of the last or of the best epoch: compare with both",
                eval_every=50, overrides=changes)
            for method, value in values.items()]


UGATIT_PROTOCOL = (
    Choice("test images", "all test images of both domains (KID of the translations against the target domain)",
           "not stated beyond 'test images' in the sources read (methods-detail §4.5-4.6)"),
    Choice("size and resize", "256 px (--eval-size 256), test inputs resized to 256×256", "U-GAT-IT code: test "
           "images resized to img_size 256 (methods-detail §4.4)"),
    Choice("features", "KID in Inception features (torch-fidelity: cubic polynomial kernel, unbiased, 100 "
           "subsets of min(1000, n) images) × 100; the paper's KID code is unpublished, so its kernel, subsets "
           "and Inception port are unknown", "neither U-GAT-IT repository ships KID code (TF issue #64)"),
    Choice("checkpoint", "evaluated every 10,000 iterations (pairless's choice: the TF code's epoch); the table "
           "gives best and last", "the paper does not say which checkpoint it reports"),
    Choice("recipe", "the full model (`ugatit`, not `ugatit-light`) with the TF code's details (the default "
           "--reference-code tensorflow), 1,000,000 iterations, lr decay from 500,000",
           "U-GAT-IT README: the paper's numbers are from --light False, TF code (methods-detail §4.4-4.5)"))
UGATIT_EXPECT = ("protocol differences alone (KID implementation, TF vs PyTorch details) may move KID; the paper "
                 "gives about ±0.6 (×100) as its spread")


def ugatit_row(data: DataSet, value: str) -> Row:
    return Row(f"ugatit-{data.name}", "ugatit", data, "kid", value, "U-GAT-IT paper, Table 1 (KID × 100)",
               UGATIT_PROTOCOL, UGATIT_EXPECT, eval_every=10_000, eval_unit="iterations")


def contragan_rows(values: dict[str, str]) -> list[Row]:
    """The BigGAN-backbone CIFAR-10 column of the ContraGAN paper's Table 1 (one shared setting)."""
    protocol = (
        Choice("test images", "10,000 generated images (1,000 per class, the same noise at every evaluation, "
               "from the EMA generator) against the 10,000 CIFAR-10 test images (--eval-reference DATA/test)",
               "StudioGAN 2020: reference moments of the eval split, as many fakes; --eval_type test (issue #76)"),
        Choice("size and resize", "32 px images given to Inception (resized to 299 inside)", "StudioGAN"),
        Choice("features", "the TF-ported Inception weights through torch-fidelity", "StudioGAN 2020: PyTorch "
               "Inception with the pytorch-fid weights (methods-detail §5.7)"),
        Choice("checkpoint", "evaluated every 2,000 generator steps; best and last in the table",
               "StudioGAN keeps the best FID of its periodic evaluations (--eval_every 2000 in the 2021 "
               "src/main.py read; the 2020 code's interval not checked)"),
        Choice("recipe", "--preset cifar10-paper: BigGAN backbone width 96, SN in G and D, 5 D steps, batch 64, "
               "80,000 G steps, EMA from step 1,000", "StudioGAN configs/Table1 BigGAN CIFAR-10 (2020)"))
    return [Row(f"{method}-cifar10", method, CIFAR10, "fid", value, "ContraGAN paper, Table 1 (BigGAN backbone)",
                protocol, "the paper reports the best FID over training; it gives ±0.27 as ContraGAN's spread",
                eval_every=2000, eval_unit="iterations", preset="cifar10-paper",
                eval_size=32)
            for method, value in values.items()]


LABELS_TO_PHOTOS = {"data.direction": "BtoA"}
ROWS: tuple[Row, ...] = (
    *cut_table_rows(HORSE2ZEBRA, {"cyclegan": "77.2", "cut": "45.5", "fastcut": "73.4"}, EVERY_TEST_IMAGE, SIZE_256),
    *dcl_table_rows(HORSE2ZEBRA, {"dclgan": "43.2", "simdcl": "47.1"}, DCL_EVERY_TEST_IMAGE),
    ugatit_row(HORSE2ZEBRA, "7.06"),
    *cut_table_rows(CAT2DOG, {"cyclegan": "85.9", "cut": "76.2", "fastcut": "94.0"}, EVERY_TEST_IMAGE, SIZE_256_AFHQ),
    *dcl_table_rows(CAT2DOG, {"dclgan": "60.7", "simdcl": "65.5"}, DCL_EVERY_TEST_IMAGE, epochs=200),
    *cut_table_rows(CITYSCAPES, {"cyclegan": "76.3", "cut": "56.4", "fastcut": "68.8"}, CITYSCAPES_CUT_TEST, SIZE_256,
                    LABELS_TO_PHOTOS),
    *dcl_table_rows(CITYSCAPES, {"dclgan": "49.4", "simdcl": "51.3"}, CITYSCAPES_DCL_TEST, overrides=LABELS_TO_PHOTOS),
    ugatit_row(SELFIE2ANIME, "11.61"),
    *contragan_rows({"acgan": "10.70", "projgan": "10.74", "contragan": "10.60"}),
)


def find_row(row_id: str) -> Row:
    for row in ROWS:
        if row.id == row_id:
            return row
    import difflib

    match = difflib.get_close_matches(row_id, [row.id for row in ROWS], n=1)
    hint = f" (did you mean {match[0]}?)" if match else ""
    raise PairlessError(f"no reproduction row '{row_id}'{hint}; `pairless reproduce --list` prints them")
