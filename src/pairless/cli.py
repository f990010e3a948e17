"""The `pairless` command line: a thin layer over data/, train/, translator and demo functions.

Errors a user can fix exit with code 2 and one line on stderr starting with `error:`.
"""

from __future__ import annotations

import sys
import warnings
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.exceptions import TyperException

from pairless.cli_support import (
    absolute,
    init_config,
    one_line_warning,
    parse_options,
    print_train_help,
    progress_bar,
    seeds_of,
    split_list,
    train_help_requested,
)
from pairless.errors import (
    PairlessError,
    StoppedBySignal,
    is_machine_refusal,
    machine_refusal_message,
    user_message,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Unpaired image-to-image translation: train, translate, evaluate.")
data_app = typer.Typer(no_args_is_help=True, help="Data sets: built-in synthetic tasks.")
app.add_typer(data_app, name="data")

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}
Checkpoint = Annotated[Path, typer.Argument(help="A .safetensors checkpoint or a run folder.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, mps.")]
Direction = Annotated[str, typer.Option(help="AtoB or BtoA.")]
RUN_CONTROL = frozenset({"model", "out", "resume", "config", "preset", "init", "stop_at", "quiet"})
"""`pairless train` options that choose the run rather than set a config field (a field of the same name is set
as --SECTION.NAME)."""


@data_app.command("synth")
def data_synth(
    task: Annotated[str, typer.Argument(help="stripes | shapes | hue")],
    out: Annotated[Path, typer.Argument(help="Folder to create (CycleGAN layout + testA_gt/).")],
    count: Annotated[int, typer.Option(help="Training images per domain.")] = 500,
    test_count: Annotated[Optional[int], typer.Option(help="Test images (default max(8, count/10)).")] = None,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 64,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 0,
) -> None:
    """Generate a built-in synthetic unpaired data set (deterministic from the seed)."""
    from pairless.data.synthetic import TASKS, make_synthetic_dataset

    if task not in TASKS:
        raise PairlessError(f"unknown task '{task}'; choose from {', '.join(TASKS)}")
    try:
        path = make_synthetic_dataset(task, out, count=count, test_count=test_count, size=size, seed=seed)
    except (ValueError, FileExistsError) as exc:
        raise PairlessError(str(exc)) from None
    typer.echo(f"wrote the '{task}' data set to {path}")


@app.command(context_settings=EXTRA_ARGS)
def train(
    ctx: typer.Context,
    model: Annotated[Optional[str], typer.Option(help="Method name, e.g. cut, fastcut, cyclegan.")] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="Folder with trainA/ and trainB/; for acgan/projgan/contragan class folders or IDX files.")] = None,
    data_a: Annotated[Optional[Path], typer.Option(
        help="Single-image training (e.g. sincut): the one image of domain A, instead of --data.")] = None,
    data_b: Annotated[Optional[Path], typer.Option(help="Single-image training: the one image of domain B.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder to create.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Run folder to continue.")] = None,
    init: Annotated[Optional[Path], typer.Option(
        help="Start from the networks of this run folder or checkpoint (e.g. one made by `pairless import`); "
             "the schedule starts at step 0.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML config (as written into run folders).")] = None,
    preset: Annotated[Optional[str], typer.Option(
        help="A named setting of the method, e.g. cifar10-paper (see `pairless models NAME`).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Total iterations (with --resume: the new total).")] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Total epochs over the larger domain.")] = None,
    size: Annotated[Optional[int], typer.Option(help="Training crop size.")] = None,
    width: Annotated[Optional[int], typer.Option(help="Base channel count of G and D.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per domain per step.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda, cuda:N, mps.")] = None,
    precision: Annotated[Optional[str], typer.Option(help="fp32, bf16 or fp16.")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    channels: Annotated[Optional[int], typer.Option(help="1 (gray) or 3 for both domains.")] = None,
    stop_at: Annotated[Optional[int], typer.Option(
        help="End this session after that iteration (schedule unchanged); continue with --resume.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress output.")] = False,
) -> None:
    """Train a model. Any config option can be set as --name value (see `pairless models NAME`)."""
    from pairless.config import RunConfig
    from pairless.train.loop import train as run_training

    start = init_config(init) if init is not None else None
    cfg, run_dir = RunConfig.for_run(model, config, preset, resume, out, start)
    given = {name: value for name, value in ctx.params.items() if name not in RUN_CONTROL and value is not None}
    given |= {name: absolute(given[name]) for name in ("data", "data_a", "data_b") if name in given}
    options = given | parse_options(list(ctx.args), cfg.is_switch)
    if init is not None:
        options["train.init_from"] = str(init.resolve())
    cfg = cfg.with_run_overrides(cfg.option_overrides(options), resuming=resume is not None)
    result = run_training(cfg, run_dir, resume=resume is not None, quiet=quiet, stop_at=stop_at)
    if result.interrupted:
        raise StoppedBySignal(result.stop_signal)
    if result.main_process:
        verb = "trained" if result.finished else "stopped"
        typer.echo(f"{verb} {cfg.method} at step {result.step}/{result.total_steps}; run folder: {run_dir}")


@app.command()
def translate(
    checkpoint: Checkpoint,
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders (recursive).")],
    out: Annotated[Path, typer.Option(help="Output folder (the input folder structure is kept).")],
    direction: Direction = "AtoB",
    batch_size: Annotated[int, typer.Option(help="Images per forward pass (same-size images).")] = 1,
    format: Annotated[str, typer.Option(help="png, jpg, webp or tif.")] = "png",
    quality: Annotated[int, typer.Option(help="JPEG/WebP quality.")] = 95,
    device: Device = "auto",
    attention: Annotated[bool, typer.Option(
        help="Also write the generator's attention heat-maps over the inputs into OUT/attention (U-GAT-IT).")] = False,
    tile: Annotated[Optional[int], typer.Option(
        help="Translate images larger than TILE x TILE pixels in blended tiles (for large photos).")] = None,
    overlap: Annotated[int, typer.Option(help="Pixels by which neighbouring tiles overlap.")] = 64,
    tile_stats: Annotated[str, typer.Option(
        help="Instance-norm statistics for tiles: exact (close to untiled) or thumbnail (faster).")] = "exact",
) -> None:
    """Translate images of any size with a trained model."""
    from pairless.attention import ATTENTION_FOLDER, check_attention, check_attention_outputs, write_attention_maps
    from pairless.translator import Translator, translate_paths

    if batch_size < 1:
        raise PairlessError(f"--batch-size must be at least 1, got {batch_size}")
    translator = Translator.load(checkpoint, device)
    if attention:
        check_attention(translator)
        check_attention_outputs(inputs, out, format)
    with progress_bar("translate") as progress:
        written = translate_paths(translator, inputs, out, direction, batch_size, format, quality, tile=tile,
                                  overlap=overlap, tile_stats=tile_stats, progress=progress)
    typer.echo(f"translated {len(written)} image(s) {direction} into {out}")
    if attention:
        maps = write_attention_maps(translator, inputs, out / ATTENTION_FOLDER, direction, tile, overlap, tile_stats)
        typer.echo(f"wrote {len(maps)} attention map(s) into {out / ATTENTION_FOLDER}")


IMPORT_HELP = (
    "Import checkpoints of the original implementations into a run folder that translate, serve, export, "
    "evaluate and `train --init` use like any run.\n\n"
    "Formats, told from the files' names and contents (--from for the ambiguous cases): the CycleGAN/pix2pix "
    "repository (latest_net_G_A.pth + latest_net_G_B.pth [+ D_A, D_B], or one released generator such as "
    "horse2zebra.pth), CUT and FastCUT (latest_net_G.pth [+ F, D]), DCLGAN and SimDCL (G_A, G_B, F1, F2, D_A, "
    "D_B), UGATIT-pytorch (*_params_latest.pt, full or light).\n\n"
    "Every architecture setting comes from the tensor shapes; state what they cannot tell as options, e.g. "
    "--nce-layers 0,4,8,12,16. Files are read as tensors only: a pickle that would run code is refused."
)


@app.command("import", context_settings=EXTRA_ARGS, help=IMPORT_HELP)
def import_(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(
        help="Checkpoint files of another implementation, or the folder they were saved in (its latest save).",
        metavar="FILES")],
    out: Annotated[Path, typer.Option(help="Run folder to create.")],
    source_format: Annotated[Optional[str], typer.Option(
        "--from", help="The implementation that wrote the files, when it cannot be told from them: "
                       "cyclegan, cut, fastcut, dclgan, simdcl, ugatit.")] = None,
) -> None:
    from pairless.interop import import_checkpoints

    options = parse_options(list(ctx.args), lambda name: False)
    result = import_checkpoints(files, out, source_format, options)
    typer.echo(f"imported {result.source_format} as pairless {result.method} into {result.run_dir}: networks "
               f"{', '.join(result.networks)}; translates {' and '.join(result.directions) or 'nothing'}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    if result.directions:
        typer.echo(f"next: pairless translate {result.run_dir} IMAGES --out FOLDER --direction {result.directions[0]}")


@app.command()
def generate(
    checkpoint: Annotated[Path, typer.Argument(help="A class-conditional checkpoint or run folder.")],
    out: Annotated[Path, typer.Option(help="Output folder: OUT/<class>/<index>.png (and OUT/grid.png).")],
    class_: Annotated[Optional[int], typer.Option("--class", help="Class index (default: every class).")] = None,
    count: Annotated[int, typer.Option(help="Images per class.")] = 16,
    grid: Annotated[bool, typer.Option(
        help="Also write OUT/grid.png: one row per class, up to 16 samples each.")] = False,
    seed: Annotated[int, typer.Option(help="Same seed, same images.")] = 0,
    device: Device = "auto",
) -> None:
    """Generate images of a class (or of every class) with a class-conditional model."""
    from pairless.data.images import save_image
    from pairless.generate import class_grid, load_generator, write_class_images

    model, step = load_generator(checkpoint, device)
    labels = [class_] if class_ is not None else list(range(model.num_classes))
    written = write_class_images(model, out, labels, count, seed)
    typer.echo(f"generated {len(written)} image(s) of {len(labels)} class(es) at step {step} into {out}")
    if grid:
        save_image(class_grid(model, labels, min(count, 16), seed), out / "grid.png")
        typer.echo(f"grid: {out / 'grid.png'}")


@app.command()
def evaluate(
    checkpoint: Checkpoint,
    data: Annotated[Path, typer.Option(help="Data set folder (testA/, testB/, optional testA_gt/).")],
    split: Annotated[str, typer.Option(help="Which split's folders to use (test -> testA/testB).")] = "test",
    direction: Direction = "AtoB",
    features: Annotated[str, typer.Option(
        help="FID/KID feature space: inception (papers' protocol, downloads once) or local (offline).")] = "inception",
    inception_weights: Annotated[Optional[Path], typer.Option(
        help="Inception weights file for offline use (torch-fidelity's weights-inception-2015-12-05).")] = None,
    size: Annotated[int, typer.Option(help="Images are resized to size x size before features.")] = 256,
    limit: Annotated[Optional[int], typer.Option(help="At most this many test images per domain.")] = None,
    classifier_steps: Annotated[Optional[int], typer.Option(
        help="Training iterations of the domain classifier, when it is not cached yet.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        help="Folder for translated images and eval.json (default RUN/eval/CHECKPOINT_SPLIT_DIRECTION).")] = None,
    device: Device = "auto",
) -> None:
    """Translate a test split and measure it: FID/KID, FID-local, domain score, diversity, L1/PSNR/SSIM."""
    from rich.console import Console
    from rich.table import Table

    from pairless.checkpoint import resolve_checkpoint
    from pairless.eval.evaluate import EvalSettings, evaluate_checkpoint, metric_rows

    settings = EvalSettings(split, direction, features, str(inception_weights) if inception_weights else None,
                            size, limit, classifier_steps)
    weights = resolve_checkpoint(checkpoint)
    out = out or weights.parent / "eval" / f"{weights.stem}_{split}_{direction}"
    with progress_bar("translate") as progress:
        result = evaluate_checkpoint(weights, data, out, settings, device, log=typer.echo, progress=progress)
    table = Table(title=f"{result['method']} step {result['step']}: {result['translated_images']} {split} images "
                        f"{direction}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in metric_rows(result["metrics"]):
        table.add_row(label, value)
    Console().print(table)
    typer.echo(f"wrote {out / 'eval.json'}")


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run folder.")],
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default RUN/report).")] = None,
) -> None:
    """Write a self-contained HTML report of a run: curves, samples over time, evaluation table."""
    from pairless.report import write_report

    if not run.is_dir():
        raise PairlessError(f"run folder not found: {run}")
    typer.echo(f"wrote {write_report(run, out)}")


@app.command()
def export(
    checkpoint: Checkpoint,
    out: Annotated[Path, typer.Option(help="File to write (e.g. model.onnx or model.pt).")],
    format: Annotated[str, typer.Option(help="onnx or torchscript.")] = "onnx",
    direction: Annotated[str, typer.Option(help="AtoB or BtoA (one direction per file).")] = "AtoB",
) -> None:
    """Export one direction for use without pairless: [N, C, H, W] in [0, 1] in, the same out, any H, W."""
    from pairless.export import export_model

    path = export_model(checkpoint, out, format, direction)
    typer.echo(f"exported {direction} as {format} to {path} (input 'image': float32 [N, C, H, W] in [0, 1])")


@app.command()
def serve(
    checkpoints: Annotated[list[Path], typer.Argument(
        help="Run folders or .safetensors checkpoints; with several, the page offers them in a menu.",
        metavar="RUN")],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: the whole network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
    device: Device = "auto",
    max_upload_mb: Annotated[float, typer.Option(help="Largest accepted image file, in MB.")] = 20,
    max_megapixels: Annotated[float, typer.Option(
        "--max-megapixels", "--max-pixels", help="Largest accepted image, in megapixels.")] = 16,
    tile: Annotated[Optional[int], typer.Option(help="Translate larger images in blended tiles.")] = None,
    overlap: Annotated[int, typer.Option(help="Pixels by which neighbouring tiles overlap.")] = 64,
    examples: Annotated[Optional[Path], typer.Option(
        help="Folder of example inputs the page offers (default: a few images of each run's test split).")] = None,
) -> None:
    """A local web page: drop, paste or pick images (or click an example), compare before/after, download."""
    from pairless.serve import ServeSettings, load_runs, run_server
    from pairless.serve.app import check_port

    check_port(port)
    settings = ServeSettings(max_upload_mb=max_upload_mb, max_megapixels=max_megapixels, tile=tile, overlap=overlap)
    runs = load_runs(checkpoints, device, settings, examples)
    served = ", ".join(f"{run.name}: {run.translator.config.method} step {run.translator.step}" for run in runs)
    run_server(runs, settings, host, port, announce=lambda url: typer.echo(f"serving {served} at {url}"))


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo writes its data and run.")] = Path("runs/demo"),
    steps: Annotated[Optional[int], typer.Option(help="Training iterations (default: the demo budget).")] = None,
    device: Device = "auto",
) -> None:
    """Generate a synthetic task, train CUT on it, translate its test set and score the result."""
    from pairless.demo import run_demo

    run_demo(out, steps=steps, device=device)


@app.command(context_settings=EXTRA_ARGS)
def bench(
    ctx: typer.Context,
    tasks: Annotated[Optional[str], typer.Option(
        help="Comma-separated built-in tasks [default: stripes,shapes,hue, or none with --data].")] = None,
    models: Annotated[str, typer.Option(help="Comma-separated methods.")] = "cut,fastcut,cyclegan",
    steps: Annotated[int, typer.Option(help="Training iterations per run (the same for all).")] = 3000,
    out: Annotated[Path, typer.Option(help="Folder for data, runs and the tables.")] = Path("runs/bench"),
    size: Annotated[int, typer.Option(help="Image size of the generated tasks and of every run's images.")] = 64,
    width: Annotated[int, typer.Option(help="Base channel count of every G and D.")] = 16,
    count: Annotated[int, typer.Option(help="Training images per domain.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the generated task data.")] = 0,
    seeds: Annotated[str, typer.Option(help="Comma-separated training seeds: one run per model and seed.")] = "0",
    device: Device = "auto",
    data: Annotated[Optional[list[Path]], typer.Option(
        help="Also a data set folder (trainA/trainB/testA/testB), e.g. horse2zebra; repeatable.")] = None,
) -> None:
    """Train every method on every task and data set at the same budget; write bench.md and bench.csv.
    Extra --name value options apply to the methods that have them."""
    from pairless.bench import is_switch_in_any, run_bench
    from pairless.data.synthetic import TASKS

    if tasks is None:
        tasks = "" if data else "stripes,shapes,hue"
    task_list, model_list = split_list(tasks), split_list(models)
    for task in task_list:
        if task not in TASKS:
            raise PairlessError(f"unknown task '{task}' in --tasks; choose from {', '.join(TASKS)}")
    options = parse_options(list(ctx.args), partial(is_switch_in_any, model_list))
    with progress_bar("bench runs") as progress:
        run_bench(task_list, model_list, steps, out, size, width, count, seed, device, options, data=data or [],
                  seeds=seeds_of(seeds), progress=progress)
    typer.echo((out / "bench.md").read_text(), nl=False)
    typer.echo(f"tables: {out / 'bench.md'}, {out / 'bench.csv'}")


@app.command()
def reproduce(
    row: Annotated[Optional[str], typer.Argument(help="A published row, e.g. cut-horse2zebra (see --list).")] = None,
    data: Annotated[Optional[Path], typer.Option(help="The row's data set folder (its layout is checked).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        help="Folder for the run (OUT/run) and the table; the same command continues a stopped run.")] = None,
    list_rows: Annotated[bool, typer.Option("--list", help="Print the rows and exit.")] = False,
    smoke: Annotated[bool, typer.Option(
        help="Two steps at 32 px on the CPU on generated data: checks the row's path, not its number.")] = False,
    inception_weights: Annotated[Optional[Path], typer.Option(
        help="Inception weights file for offline use (torch-fidelity's weights-inception-2015-12-05).")] = None,
    tflops: Annotated[Optional[float], typer.Option(
        help="Sustained TFLOP/s of your GPU for the GPU-hours estimate [default: the reference CUT's on an H100].")
    ] = None,
    device: Device = "auto",
) -> None:
    """Train a published row with its paper's recipe and evaluation protocol; write paper value, best and last."""
    from pairless.reproduce.cost import REFERENCE_TFLOPS
    from pairless.reproduce.run import reproduce as run_row
    from pairless.reproduce.run import request_for
    from pairless.reproduce.table import list_text

    if list_rows:
        typer.echo(list_text(), nl=False)
        return
    if row is None:
        raise PairlessError("name a row (e.g. pairless reproduce cut-horse2zebra); --list prints them")
    rate = REFERENCE_TFLOPS if tflops is None else tflops
    request = request_for(row, data, out, inception_weights, device, rate, smoke)
    outcome = run_row(request, log=typer.echo)
    if outcome.stop_signal:
        raise StoppedBySignal(outcome.stop_signal)


@app.command()
def models(
    name: Annotated[Optional[str], typer.Argument(help="Show this method's recipe and defaults.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Show the settings of this named preset instead.")] = None,
) -> None:
    """List the methods, or show one method's recipe and default configuration."""
    from pairless.models.registry import get_method, method_names
    from pairless.recipe import method_summary

    if name is None:
        for method in method_names():
            spec = get_method(method)
            presets = f" [--preset {', '.join(spec.presets)}]" if spec.presets else ""
            typer.echo(f"{method:12s} {spec.description}{presets}")
        return
    typer.echo(method_summary(name, preset), nl=False)


def main(argv: list[str] | None = None) -> None:
    warnings.formatwarning = one_line_warning
    args = sys.argv[1:] if argv is None else argv
    try:
        if train_help_requested(args):
            train_command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
            print_train_help(args, train_command, RUN_CONTROL)
            sys.exit(0)
        code = app(args=argv, standalone_mode=False, prog_name="pairless")
    except PairlessError as exc:
        typer.echo(f"error: {user_message(exc)}", err=True)
        sys.exit(2)
    except OSError as exc:
        if not is_machine_refusal(exc):
            raise
        typer.echo(f"error: {machine_refusal_message(exc)}", err=True)
        sys.exit(2)
    except TyperException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    except StoppedBySignal as exc:  # (a bare Ctrl-C outside training: typer's exit code 130)
        sys.exit(128 + exc.signum)
    sys.exit(code if isinstance(code, int) else 0)
