"""Multi-process training on CPU (gloo): gradients are averaged exactly as over one concatenated batch
(also for ContraGAN's 2C loss, whose embeddings are gathered across processes), and a 2-process `torchrun`
run trains, checkpoints and resumes (also with a different process count)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from pairless.checkpoint import read_weights
from pairless.errors import PairlessError
from pairless.losses.conditional import conditional_contrastive_loss
from pairless.models.base import OptimizerGroup
from pairless.nn.gather import gather_rows
from pairless.train.distributed import ProcessGroup, agree_to_stop
from pairless.train.optim import Optimizers
from pairless.train_config import TrainConfig
from tests.conftest import tiny_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TinyModel(nn.Module):
    """Per-sample layers only (no batch norm): the batch mean of its loss splits exactly over shards."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.G = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))

    def optimizer_groups(self):
        return [OptimizerGroup("G", ("G",))]

    def after_optimizer_step(self, group):
        pass


def batch() -> torch.Tensor:
    return torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def loss_of(model: TinyModel, images: torch.Tensor) -> torch.Tensor:
    return model.G(images).pow(2).mean()


def shard_worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    model = TinyModel()
    optimizers = Optimizers(model, TrainConfig(lr=0.1), "cpu", "fp32", ProcessGroup(rank, world_size))
    shard = batch().chunk(world_size)[rank]
    optimizers.step(loss_of(model, shard), "G")
    torch.save({"grads": [p.grad for p in model.parameters()], "params": list(model.parameters())},
               f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_averaged_gradients_equal_one_process_on_the_whole_batch(tmp_path):
    mp.spawn(shard_worker, args=(2, free_port(), str(tmp_path)), nprocs=2)
    reference = TinyModel()
    optimizers = Optimizers(reference, TrainConfig(lr=0.1), "cpu", "fp32")
    optimizers.step(loss_of(reference, batch()), "G")
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for i, p in enumerate(reference.parameters()):
        for result in ranks:
            torch.testing.assert_close(result["grads"][i], p.grad, rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(result["params"][i], p.detach(), rtol=1e-5, atol=1e-7)
        assert torch.equal(ranks[0]["params"][i], ranks[1]["params"][i])  # replicas stay identical


class TinyContrastive(nn.Module):
    """A ContraGAN-shaped loss: embeddings of the images and class proxies through the 2C loss, with the
    embeddings gathered from every process as ContraGAN's condition loss does."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.G = nn.ModuleDict({"embed": nn.Linear(12, 6), "proxies": nn.Embedding(3, 6)})

    optimizer_groups, after_optimizer_step = TinyModel.optimizer_groups, TinyModel.after_optimizer_step

    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embeddings = self.G["embed"](images.flatten(1))
        gathered, offset = gather_rows(embeddings)
        return conditional_contrastive_loss(embeddings, self.G["proxies"](labels), labels, 0.5,
                                            (gathered, gather_rows(labels)[0], offset))


def labelled_batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(6, 3, 2, 2, generator=torch.Generator().manual_seed(3)), torch.tensor([0, 1, 0, 2, 1, 1])


def contrastive_shard_worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    model = TinyContrastive()
    optimizers = Optimizers(model, TrainConfig(lr=0.1), "cpu", "fp32", ProcessGroup(rank, world_size))
    images, labels = (part.chunk(world_size)[rank] for part in labelled_batch())
    optimizers.step(model.loss(images, labels), "G")
    torch.save([p.grad for p in model.parameters()], f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_contrastive_loss_over_gathered_embeddings_gives_the_whole_batch_gradients(tmp_path):
    mp.spawn(contrastive_shard_worker, args=(2, free_port(), str(tmp_path)), nprocs=2)
    reference = TinyContrastive()
    Optimizers(reference, TrainConfig(lr=0.1), "cpu", "fp32").step(reference.loss(*labelled_batch()), "G")
    for rank in range(2):
        grads = torch.load(tmp_path / f"rank{rank}.pt")
        for got, p in zip(grads, reference.parameters(), strict=True):
            torch.testing.assert_close(got, p.grad, rtol=1e-5, atol=1e-7)


def torchrun(nproc: int, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
               "--master_port", str(free_port()), "-m", "pairless", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_two_process_run_trains_checkpoints_and_resumes(unpaired_dir, tmp_path):
    run_dir = tmp_path / "run"
    tiny = ["--size", "32", "--load-size", "36", "--width", "8", "--n-blocks", "5", "--num-patches", "16",
            "--head-dim", "16", "--workers", "0", "--device", "cpu", "--quiet", "--log-every", "1",
            "--save-every", "2"]
    torchrun(2, "train", "--model", "cut", "--data", unpaired_dir, "--out", run_dir, "--steps", "4",
             "--stop-at", "2", *tiny)
    assert read_weights(run_dir)[2] == 2
    resumed = torchrun(2, "train", "--resume", run_dir)
    assert read_weights(run_dir)[2] == 4
    assert resumed.stdout.count("trained cut at step 4/4") == 1  # one report, from rank 0
    logged = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4]  # rank 0 alone writes the logs
    torchrun(1, "train", "--resume", run_dir, "--steps", "6")  # another world size continues it
    tensors, _, step = read_weights(run_dir)
    assert step == 6 and all(torch.isfinite(t).all() for t in tensors.values())


def stop_worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    requests = {0: [0, signal.SIGINT, 0], 1: [signal.SIGTERM, signal.SIGTERM, 0]}[rank]
    group = ProcessGroup(rank, world_size)
    torch.save([agree_to_stop(request, group, torch.device("cpu")) for request in requests], f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_a_stop_signal_seen_by_one_process_stops_all_with_the_same_code(tmp_path):
    mp.spawn(stop_worker, args=(2, free_port(), str(tmp_path)), nprocs=2)
    for rank in range(2):
        assert torch.load(tmp_path / f"rank{rank}.pt") == [signal.SIGTERM, signal.SIGTERM, 0]


def full_disk_worker(rank: int, world_size: int, port: int, data: str, out: str) -> None:
    """Trains a tiny CUT as one of `world_size` processes; rank 0 cannot write its checkpoints."""
    import pairless.train.loop as loop

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    if rank == 0:
        def full_disk(run_dir, *_args):
            raise PairlessError(f"no space left writing {run_dir / 'latest.safetensors'}")

        loop.save_checkpoint = full_disk
    try:
        loop.train(tiny_config("cut", Path(data), **{"train.steps": 6, "train.save_every": 2}), Path(out) / "run",
                   quiet=True)
        outcome = "finished"
    except PairlessError as exc:
        outcome = str(exc)
    Path(out, f"rank{rank}.txt").write_text(outcome)


def test_a_checkpoint_rank_0_cannot_write_stops_every_process_with_the_reason(unpaired_dir, tmp_path):
    context = mp.start_processes(full_disk_worker, args=(2, free_port(), str(unpaired_dir), str(tmp_path)),
                                 nprocs=2, join=False, start_method="spawn")
    deadline = time.time() + 300
    while not context.join(timeout=1):
        assert time.time() < deadline, "a process is still waiting for rank 0"
    outcomes = [(tmp_path / f"rank{rank}.txt").read_text() for rank in range(2)]
    assert outcomes[0] == f"no space left writing {tmp_path / 'run' / 'latest.safetensors'}"
    assert outcomes[1].startswith("rank 0 could not save the checkpoint of step 2 in ")


def processes_with(*entries: str) -> list[int]:
    """The pids of the processes whose environment holds all of `entries` (each `NAME=value`)."""
    found = []
    for folder in Path("/proc").iterdir():
        try:
            environment = set((folder / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if all(entry.encode() in environment for entry in entries):
            found.append(int(folder.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="finds the worker processes through /proc")
def test_sigterm_to_one_process_of_a_torchrun_run_stops_and_saves_all(unpaired_dir, tmp_path):
    run_dir, tag = tmp_path / "run", f"PAIRLESS_TEST_RUN={tmp_path.name}"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(free_port()), "-m", "pairless", "train", "--model", "cut", "--data", str(unpaired_dir), "--out",
               str(run_dir), "--steps", "100000", "--size", "32", "--load-size", "36", "--width", "8",
               "--n-blocks", "5", "--num-patches", "16", "--head-dim", "16", "--workers", "0", "--device", "cpu",
               "--quiet", "--log-every", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", tag.split("=")[0]: tag.split("=")[1]}
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 300
    while not (run_dir / "metrics.jsonl").is_file() or not (run_dir / "metrics.jsonl").read_text():
        assert time.time() < deadline and launcher.poll() is None, launcher.communicate()
        time.sleep(0.2)
    (rank_1,) = processes_with(tag, "RANK=1")
    os.kill(rank_1, signal.SIGTERM)  # rank 0 is not told: it must learn it from rank 1
    _, stderr = launcher.communicate(timeout=300)
    stopped_at = read_weights(run_dir)[2]
    assert stopped_at > 0 and f"stopped at step {stopped_at}/100000; saved" in stderr, stderr
