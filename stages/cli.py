"""`catdog`: one command per pipeline stage (what dvc.yaml runs), plus `predict`.

Every stage command validates the whole params file first. A problem the user can fix is
printed as one line (exit 2 for params, 1 for other input); `--debug` shows the
traceback instead. Stage modules that need Keras are imported inside their command,
so that the data stages start without loading TensorFlow. A command whose params file
changed while it ran fails (stages/core/drift.py): DVC would record the new params.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from stages.core.config import Params, read_params_mapping, validate_params
from stages.core.drift import check_unchanged
from stages.core.errors import CatdogError

app = typer.Typer(
    help="The Dogs vs. Cats CNN study as a DVC pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., None])


class _Session:
    """Options of the root command, shared with the subcommand that runs."""

    params_path: Path = Path("params.yaml")
    debug: bool = False
    command: str = "catdog"
    # The params file's mapping as the running command first loaded it (None until then).
    loaded: dict | None = None


session = _Session()


@app.callback()
def root(
    context: typer.Context,
    params: Annotated[Path, typer.Option(help="The params file to validate and use.")] = Path(
        "params.yaml"
    ),
    debug: Annotated[
        bool, typer.Option(help="Show tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    """The Dogs vs. Cats CNN study as a DVC pipeline."""
    session.params_path = params
    session.debug = debug
    session.command = context.invoked_subcommand or "catdog"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def user_errors(command: F) -> F:
    """Turn a CatdogError into one line on stderr and its exit code (unless --debug); fail
    a command that loaded the params file if the file changed before it ended."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> None:
        session.loaded = None
        try:
            command(*args, **kwargs)
            params_unchanged()
        except CatdogError as error:
            if session.debug:
                raise
            for line in str(error).splitlines():  # several problems: one line each
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _params() -> Params:
    """The params file, validated; the first load is what the command runs with."""
    raw = read_params_mapping(session.params_path)
    params = validate_params(raw, session.params_path)
    if session.loaded is None:
        session.loaded = raw
    return params


def params_unchanged() -> None:
    """A ConfigError (one line) if the params file changed since the command loaded it:
    DVC reads the params for dvc.lock after the command, and they would not be what ran."""
    if session.loaded is None:
        return
    stage = os.environ.get("DVC_STAGE")  # DVC sets it for the command of a stage
    advice = "run dvc repro again" if stage else "run it again"
    check_unchanged(session.params_path, session.loaded, stage or session.command, advice)


def _held_out(params: Params) -> str:
    """Which photos the per-epoch curves were measured on: test or validation."""
    return "test" if params.split.validation == "test" else "validation"


VariationArgument = Annotated[str, typer.Argument(help="A variation name from params.yaml.")]
ImagesOption = Annotated[Path, typer.Option(help="The decoded pixels (.npy).")]
IndexOption = Annotated[Path, typer.Option(help="The decoded pixels' index CSV.")]


@app.command()
@user_errors
def validate(
    out: Annotated[Path, typer.Option(help="Output: a marker, unchanged while valid.")],
) -> None:
    """Validate params.yaml, its data source and every weights file it names, before any
    stage that would pay for a bad value."""
    from stages.ingest.validate import run

    run(_params(), out)


@app.command()
@user_errors
def download(
    out: Annotated[Path, typer.Option(help="Where to put the archive.")],
) -> None:
    """Fetch the photo archive that data.source names, and keep it packed."""
    from stages.ingest.download import fetch

    fetch(_params().data, out)


@app.command()
@user_errors
def decode(
    archive: Annotated[Path, typer.Option(help="The photo archive (either layout).")],
    images: Annotated[Path, typer.Option(help="Output: decoded pixels, .npy (N, H, W, 3).")],
    index: Annotated[Path, typer.Option(help="Output: filename,category,row per photo kept.")],
    rejected: Annotated[
        Path, typer.Option(help="Output: filename,category,reason of dropped files.")
    ],
) -> None:
    """Decode every photo once (all cores) into the cache all variations share."""
    from stages.ingest.decode import DecodeInputs, DecodeOutputs, run

    run(_params().image, DecodeInputs(archive), DecodeOutputs(images, index, rejected))


@app.command()
@user_errors
def inspect(
    images: ImagesOption,
    index: IndexOption,
    rejected: Annotated[Path, typer.Option(help="The decode stage's rejected files CSV.")],
    out: Annotated[Path, typer.Option(help="Output: a marker, unchanged while split can be made.")],
    class_counts: Annotated[Path, typer.Option(help="Output: Fig. 1, the class counts (PNG).")],
    samples: Annotated[Path, typer.Option(help="Output: Fig. 2, sample photos (PNG).")],
) -> None:
    """Look at the decoded photos before they are split: draw the class counts and sample
    photos, and refuse split params that would leave a class without photos somewhere."""
    from stages.core.dataset import CachePaths
    from stages.ingest.split import SplitInputs, check_splittable
    from stages.reporting.plot import DataFigureInputs, DataFigureOutputs, data_figures

    check_splittable(_params().split, SplitInputs(index), out)
    inputs = DataFigureInputs(CachePaths(images, index), rejected)
    data_figures(inputs, DataFigureOutputs(class_counts, samples))


@app.command()
@user_errors
def split(
    index: Annotated[Path, typer.Option(help="The decode stage's index CSV.")],
    train: Annotated[Path, typer.Option(help="Output: train split CSV.")],
    test: Annotated[Path, typer.Option(help="Output: test split CSV.")],
    validation: Annotated[
        Path, typer.Option(help="Output: validation CSV (the test rows under validation: test).")
    ],
) -> None:
    """Split the decoded photos into stratified, seeded train, test and validation CSVs."""
    from stages.ingest.split import SplitInputs, SplitOutputs, run

    run(_params().split, SplitInputs(index), SplitOutputs(train, test, validation))


@app.command()
@user_errors
def train(
    variation: VariationArgument,
    seed: Annotated[
        int, typer.Option(help="One of train.seeds: initialisation, shuffling, augmentation.")
    ],
    images: ImagesOption,
    index: IndexOption,
    train_csv: Annotated[Path, typer.Option(help="The train split CSV.")],
    validation_csv: Annotated[
        Path, typer.Option(help="The validation split CSV (the per-epoch curves).")
    ],
    model: Annotated[Path, typer.Option(help="Output: the trained .keras model.")],
    live: Annotated[Path, typer.Option(help="Output: the dvclive folder of the per-epoch curves.")],
    summary: Annotated[Path, typer.Option(help="Output: training time summary JSON.")],
    checkpoints: Annotated[
        Path, typer.Option(help="Folder for resume checkpoints (outside DVC's outputs).")
    ],
) -> None:
    """Train one variation from one seed, resuming from its checkpoint after a crash."""
    params = _params()
    params.variation(variation)
    params.seed(seed)
    from stages.core.backend import use_backend

    use_backend(params.train.backend)  # before anything imports Keras
    from stages.core.dataset import CachePaths
    from stages.core.threads import apply_thread_limit
    from stages.training.distribution import distribution_scope
    from stages.training.train import TrainInputs, TrainOutputs
    from stages.training.train import train as train_variation

    apply_thread_limit()
    inputs = TrainInputs(CachePaths(images, index), train_csv, validation_csv, checkpoints)
    with distribution_scope(params.train.distribution):
        outputs = TrainOutputs(model, live, summary)
        # Checked before the checkpoint goes: a rerun after a change resumes from it.
        train_variation(params, variation, seed, inputs, outputs, confirm=params_unchanged)


@app.command()
@user_errors
def evaluate(
    variation: VariationArgument,
    model: Annotated[Path, typer.Option(help="The trained .keras model.")],
    images: ImagesOption,
    index: IndexOption,
    test_csv: Annotated[Path, typer.Option(help="The test split CSV.")],
    metrics: Annotated[Path, typer.Option(help="Output: metrics JSON.")],
    predictions: Annotated[
        Path, typer.Option(help="Output: filename,actual,predicted,dog_probability CSV.")
    ],
    roc: Annotated[Path, typer.Option(help="Output: the ROC curve's fpr,tpr CSV.")],
) -> None:
    """Score one trained variation on the test split."""
    _params().variation(variation)
    from stages.core.dataset import CachePaths
    from stages.core.threads import apply_thread_limit
    from stages.reporting.evaluate import EvaluateInputs, EvaluateOutputs
    from stages.reporting.evaluate import evaluate as evaluate_model

    apply_thread_limit()
    inputs = EvaluateInputs(model, CachePaths(images, index), test_csv)
    evaluate_model(inputs, EvaluateOutputs(metrics, predictions, roc))


PlotsDirOption = Annotated[Path, typer.Option(help="Output folder of plot tables and PNGs.")]
RunsDirOption = Annotated[Path, typer.Option(help="Folder of <variation>/<seed>/ runs.")]


@app.command()
@user_errors
def summarize(
    variation: VariationArgument,
    runs_dir: RunsDirOption,
    metrics: Annotated[Path, typer.Option(help="Output: the variation's metrics over seeds.")],
    plots_dir: PlotsDirOption,
) -> None:
    """Sum one variation's runs up over train.seeds (mean, sd, 95% interval, per-seed
    values) and draw its mean curves, confusion matrix and first seed's ROC curve."""
    params = _params()
    params.variation(variation)
    from stages.core.runs import run_paths
    from stages.reporting.plot import VariationFigureInputs, variation_plots
    from stages.reporting.summarize import SummarizeInputs, SummarizeOutputs, summarize

    seeds = params.train.seeds
    history = plots_dir / "history.csv"
    summarize(variation, seeds, SummarizeInputs(runs_dir), SummarizeOutputs(metrics, history))
    roc = run_paths(runs_dir, variation, seeds[0]).roc
    inputs = VariationFigureInputs(history, metrics, roc, seeds[0])
    variation_plots(variation, _held_out(params), inputs, plots_dir)


@app.command()
@user_errors
def compare(
    runs_dir: RunsDirOption,
    images: ImagesOption,
    index: IndexOption,
    out: Annotated[Path, typer.Option(help="Output: the Markdown comparison.")],
    html: Annotated[Path, typer.Option(help="Output: the comparison's HTML twin.")],
    json_out: Annotated[
        Path, typer.Option("--json", help="Output: the verdict as JSON (the best variation).")
    ],
    plots_dir: PlotsDirOption,
) -> None:
    """Tabulate every variation with its deltas against the one it builds on, beside the
    study's figures, and name the best by compare.best_by; overlay every variation's
    held-out curves and draw the best one's predictions (Fig. 14)."""
    from stages.core.dataset import CachePaths
    from stages.ingest.source import Synthetic, source_of
    from stages.reporting.compare import CompareInputs, CompareOutputs
    from stages.reporting.compare import compare as compare_variations
    from stages.reporting.plot import (
        SummaryFigureInputs,
        SummaryFigureOutputs,
        overlay_tables,
        summary_figures,
        write_tables,
    )
    from stages.reporting.summarize import variation_history

    params = _params()
    source = source_of(params.data)
    synthetic = source.count if isinstance(source, Synthetic) else None
    report = CompareOutputs(out, html, json_out)
    typer.echo(compare_variations(params, CompareInputs(runs_dir, synthetic), report))
    histories = {
        name: variation_history(runs_dir, name, params.train.seeds) for name in params.variations
    }
    held_out = _held_out(params)
    inputs = SummaryFigureInputs(histories, runs_dir, json_out, CachePaths(images, index))
    figures = SummaryFigureOutputs(plots_dir / "curves_all.png", plots_dir / "gallery.png")
    best = summary_figures(held_out, inputs, figures)
    write_tables(overlay_tables(histories, held_out), plots_dir)
    typer.echo(f"compare: the gallery shows {best}'s predictions")


@app.command()
@user_errors
def push(
    remote: Annotated[
        str | None, typer.Option(help="A DVC remote; without one, the default remote.")
    ] = None,
) -> None:
    """Share reproduced stages for `dvc repro --pull` elsewhere: `dvc push --run-cache`,
    plus the metrics and history files that it leaves behind."""
    from stages.tools.share import push_for_reuse

    push_for_reuse(remote)


@app.command()
@user_errors
def predict(
    photos: Annotated[
        list[Path], typer.Argument(help="Photos, folders of photos, or globs ('pets/*.jpg').")
    ],
    model: Annotated[
        Path, typer.Option(help="A trained .keras model (models/<variation>/<seed>.keras).")
    ] = Path("models/v4/42.keras"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of {file, label, confidence}.")
    ] = False,
    top: Annotated[bool, typer.Option(help="Most confident first.")] = False,
    gallery: Annotated[
        Path | None, typer.Option(help="Also save the photos with their labels as a PNG.")
    ] = None,
) -> None:
    """Label photos as cat or dog, with the model's confidence (as the study's Fig. 14)."""
    import json

    from stages.tools.predict import predict as predict_photos

    found = predict_photos(model, photos)
    if top:
        found = found.by_confidence()
    if as_json:
        typer.echo(json.dumps([p.as_json() for p in found.predictions], indent=2))
    else:
        for prediction in found.predictions:
            typer.echo(prediction.sentence())
    if gallery is not None and found.predictions:
        from stages.reporting.figures import gallery_figure, save_figure
        from stages.tools.predict import gallery_items

        save_figure(gallery_figure(gallery_items(found), f"Predictions of {model.name}"), gallery)
    for failure in found.failures:
        typer.echo(f"error: {failure.file}: {failure.reason}", err=True)
    if found.failures:
        raise typer.Exit(1)


@app.command()
@user_errors
def synthesize(
    out: Annotated[Path, typer.Argument(help="The .zip to write.")],
    count: Annotated[int, typer.Option(min=20, help="Photos in all, half cats.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the drawing.")] = 0,
    layout: Annotated[str, typer.Option(help="microsoft or kaggle.")] = "microsoft",
) -> None:
    """Write a synthetic archive (the offline stand-in for the real photos)."""
    from stages.ingest.synthetic import write_synthetic_archive

    if layout not in ("microsoft", "kaggle"):
        raise CatdogError(f"--layout: must be microsoft or kaggle (got {layout!r})")
    write_synthetic_archive(out, count, seed, layout)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
