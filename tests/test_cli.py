"""The `catdog` CLI through typer's CliRunner: help, one-line errors, compare, predict."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stages.cli import app
from stages.core.dataset import CachePaths
from tests.support.fakes import write_fake_study
from tests.support.params import write_params

runner = CliRunner()


def test_help_lists_one_command_per_stage_and_predict() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("download", "decode", "split", "train", "evaluate", "compare", "predict"):
        assert command in result.output


@pytest.fixture
def bad_params(tmp_path, repo) -> Path:
    path = tmp_path / "params.yaml"
    text = (repo / "params.yaml").read_text()
    path.write_text(text.replace("batch_size: 32", "batch_size: -32"))
    return path


def test_bad_params_exit_2_with_one_line_and_write_nothing(tmp_path, bad_params) -> None:
    index = tmp_path / "index.csv"
    index.write_text("filename,category\na.jpg,cat\nb.jpg,dog\n")
    before = sorted(tmp_path.iterdir())
    result = runner.invoke(
        app,
        [
            "--params",
            str(bad_params),
            "split",
            "--index",
            str(index),
            "--train",
            str(tmp_path / "train.csv"),
            "--test",
            str(tmp_path / "test.csv"),
            "--validation",
            str(tmp_path / "validation.csv"),
        ],
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bad_params}: variations.v5.batch_size: Input should be greater than 0 (got -32)"
    ]
    assert "Traceback" not in result.output
    assert sorted(tmp_path.iterdir()) == before


def test_several_bad_params_are_each_one_error_line(tmp_path, repo) -> None:
    path = tmp_path / "params.yaml"
    text = (repo / "params.yaml").read_text().replace("batch_size: 32", "batch_size: -32")
    path.write_text(text.replace("test_size: 0.2", "test_size: 2"))
    result = runner.invoke(app, ["--params", str(path), "validate", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: split.test_size: Input should be less than 1 (got 2)",
        f"error: {path}: variations.v5.batch_size: Input should be greater than 0 (got -32)",
    ]


def test_debug_shows_the_traceback(bad_params, tmp_path) -> None:
    result = runner.invoke(
        app,
        [
            "--params",
            str(bad_params),
            "--debug",
            "compare",
            *compare_options(
                tmp_path, CachePaths(tmp_path / "i.npy", tmp_path / "i.csv"), tmp_path / "c.md"
            ),
        ],
    )
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "ConfigError"


def test_unknown_variation_is_exit_2(tmp_path, repo) -> None:
    result = runner.invoke(
        app,
        [
            "--params",
            str(repo / "params.yaml"),
            "evaluate",
            "v9",
            "--model",
            "m.keras",
            "--images",
            "i.npy",
            "--index",
            "i.csv",
            "--test-csv",
            "t.csv",
            "--metrics",
            str(tmp_path / "m.json"),
            "--predictions",
            str(tmp_path / "p.csv"),
            "--roc",
            str(tmp_path / "r.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "unknown variation 'v9'" in result.stderr


def compare_options(runs: Path, cache: CachePaths, out: Path) -> list[str]:
    """`catdog compare` reading the per-seed runs from `runs`, drawing into out's folder."""
    return [
        *("--runs-dir", str(runs), "--images", str(cache.images), "--index", str(cache.index)),
        *("--out", str(out), "--html", str(out.with_suffix(".html"))),
        *("--json", str(out.with_suffix(".json")), "--plots-dir", str(out.parent / "plots")),
    ]


def invoke_compare(params: Path, runs: Path, cache: CachePaths, out: Path):
    return runner.invoke(
        app, ["--params", str(params), "compare", *compare_options(runs, cache, out)]
    )


ACCURACY = {
    **{"base": [0.80], "v1": [0.82], "v2": [0.86], "v3": [0.85], "v4": [0.91], "v5": [0.84]},
    **{"v6": [0.80], "v7": [0.81]},
}
LOSS = {"base": 0.5, "v1": 0.45, "v2": 0.3, "v3": 0.31, "v4": 0.26, "v5": 0.2, "v6": 0.3, "v7": 0.3}


def test_compare_prints_and_writes_deltas_against_builds_on(tmp_path, repo) -> None:
    study = write_fake_study(tmp_path, ACCURACY, LOSS, [42])
    out = tmp_path / "compare.md"
    result = invoke_compare(repo / "params.yaml", study.runs, study.cache, out)
    assert result.exit_code == 0, result.output
    assert out.read_text() in result.stdout
    rows = {
        line.split("|")[1].strip(): line
        for line in out.read_text().splitlines()
        if re.match(r"\| (base|v\d) ", line)
    }
    assert list(rows) == list(ACCURACY)
    # One seed: no verdict. McNemar on the two trained models: v4 is right on 5 photos v2
    # gets wrong, and never the other way: p = 2 / 2**5.
    assert "| v4 | v2 | 0.9100 | - | +0.0500 | - | - | too few seeds | 0.0625 |" in rows["v4"]
    # v2 against v1: 4 photos one way, none the other: p = 2 / 2**4.
    assert "| v2 | v1 | 0.8600 | - | +0.0400 | - | - | too few seeds | 0.1250 |" in rows["v2"]
    assert "| v3 | v2 | 0.8500 | - | -0.0100 | - | - | too few seeds | 1.0000 |" in rows["v3"]
    assert "| base | - | 0.8000 | - | - | - | - | - |" in rows["base"]


def test_compare_names_a_missing_summary_or_run(tmp_path, repo) -> None:
    cache = CachePaths(tmp_path / "images.npy", tmp_path / "index.csv")
    result = invoke_compare(repo / "params.yaml", tmp_path, cache, tmp_path / "c.md")
    assert result.exit_code == 1
    assert "train.json: missing; run `dvc repro train@base-42` first" in result.stderr
    assert not (tmp_path / "c.md").exists()
    study = write_fake_study(tmp_path, ACCURACY, LOSS, [42])
    (study.runs / "v2" / "42" / "predictions.csv").unlink()
    result = invoke_compare(repo / "params.yaml", study.runs, study.cache, tmp_path / "c.md")
    assert "predictions.csv: missing; run `dvc repro evaluate@v2-42` first" in result.stderr
    assert not (tmp_path / "c.md").exists()


def test_predict_refuses_a_missing_model(tmp_path) -> None:
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(b"")
    result = runner.invoke(app, ["predict", str(photo), "--model", str(tmp_path / "no.keras")])
    assert result.exit_code == 1
    assert "no.keras: no such file" in result.stderr


def test_predict_labels_photos_and_reports_bad_ones(tmp_path, untrained_model, microsoft_zip):
    import zipfile

    with zipfile.ZipFile(microsoft_zip) as archive:
        (tmp_path / "cat.jpg").write_bytes(archive.read("PetImages/Cat/0.jpg"))
        (tmp_path / "dog.jpg").write_bytes(archive.read("PetImages/Dog/0.jpg"))
    (tmp_path / "notes.jpg").write_text("not a photo")
    folder = tmp_path / "more"
    folder.mkdir()
    shutil.copy(tmp_path / "dog.jpg", folder / "dog2.jpg")
    result = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "cat.jpg"),
            str(tmp_path / "dog.jpg"),
            str(tmp_path / "notes.jpg"),
            str(folder),
            str(tmp_path / "absent.jpg"),
            "--model",
            str(untrained_model),
        ],
    )
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert "probably a " in line and "% confidence)" in line
    assert "notes.jpg: not an image" in result.stderr
    assert "absent.jpg: no such file" in result.stderr


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory, repo) -> Path:
    """v4 as built, saved once for the module's predict tests (they only read it)."""
    from stages.core.config import load_params
    from stages.training.model import build_classifier

    params = load_params(repo / "params.yaml")
    path = tmp_path_factory.mktemp("untrained") / "model.keras"
    build_classifier(params.variations["v4"], params.image).save(path)
    return path


def test_predict_refuses_a_corrupt_model(tmp_path) -> None:
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(b"")
    model = tmp_path / "broken.keras"
    model.write_bytes(b"PK\x03\x04 not really a keras file")
    result = runner.invoke(app, ["predict", str(photo), "--model", str(model)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: --model {model}: not a loadable Keras model")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def photos(tmp_path, microsoft_zip) -> Path:
    """A folder of three photos (two cats, one dog), as the archive holds them."""
    import zipfile

    folder = tmp_path / "pets"
    folder.mkdir()
    with zipfile.ZipFile(microsoft_zip) as archive:
        for name, member in (
            ("a.jpg", "Cat/0.jpg"),
            ("b.jpg", "Dog/0.jpg"),
            ("c.jpg", "Cat/1.jpg"),
        ):
            (folder / name).write_bytes(archive.read(f"PetImages/{member}"))
    return folder


def predict_json(*args: str) -> list[dict]:
    result = runner.invoke(app, ["predict", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_predict_json_on_a_photo_a_folder_and_a_glob(photos, untrained_model) -> None:
    model = ["--model", str(untrained_model)]
    (one,) = predict_json(str(photos / "a.jpg"), *model)
    assert set(one) == {"file", "label", "confidence"}
    assert one["file"] == str(photos / "a.jpg") and one["label"] in ("cat", "dog")
    assert 0.5 <= one["confidence"] <= 1.0
    folder = predict_json(str(photos), *model)
    assert [Path(p["file"]).name for p in folder] == ["a.jpg", "b.jpg", "c.jpg"]
    globbed = predict_json(str(photos / "[ab].jpg"), *model)
    assert globbed == folder[:2]
    top = predict_json(str(photos / "*.jpg"), "--top", *model)
    assert sorted(top, key=lambda p: -p["confidence"]) == top
    assert sorted(p["file"] for p in top) == sorted(p["file"] for p in folder)


def test_predict_reads_like_fig_14_and_saves_a_gallery(photos, untrained_model, tmp_path):
    gallery = tmp_path / "out.png"
    result = runner.invoke(
        app, ["predict", str(photos), "--model", str(untrained_model), "--gallery", str(gallery)]
    )
    assert result.exit_code == 0, result.output
    for line in result.stdout.strip().splitlines():
        assert re.fullmatch(r".+\.jpg: probably a (CAT|DOG) \(\d+\.\d\d% confidence\)", line)
    from PIL import Image

    with Image.open(gallery) as image:
        assert image.format == "PNG" and image.width > 500


def test_predict_names_a_glob_that_matches_nothing(tmp_path, untrained_model) -> None:
    result = runner.invoke(
        app, ["predict", str(tmp_path / "*.jpg"), "--model", str(untrained_model), "--json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout) == []
    assert "*.jpg: no such file" in result.stderr


def test_predict_reports_an_unreadable_file_and_goes_on(tmp_path) -> None:
    from PIL import Image

    from stages.tools.predict import expand_paths, load_photos

    Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / "good.jpg")
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    paths = expand_paths([tmp_path / "loop.jpg", tmp_path / "good.jpg"])
    good, pixels, failures = load_photos(paths, 32, 32)
    assert good == [tmp_path / "good.jpg"] and pixels.shape == (1, 32, 32, 3)
    assert [(f.file, f.reason) for f in failures] == [
        (str(tmp_path / "loop.jpg"), "Too many levels of symbolic links")
    ]


def _unblock(pipe: Path) -> None:
    """Open `pipe` for writing and close it: a reader stuck waiting for a writer reads EOF."""
    import contextlib
    import os

    with contextlib.suppress(OSError):  # ENXIO: nobody is reading, nothing to release
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))


def test_predict_refuses_a_named_pipe_at_once(tmp_path) -> None:
    import os
    import threading
    import time

    from stages.tools.predict import load_photos

    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)
    release = threading.Timer(5, _unblock, [pipe])  # frees a reader that would hang forever
    release.daemon = True
    release.start()
    started = time.monotonic()
    good, _, failures = load_photos([pipe], 32, 32)
    release.cancel()
    assert time.monotonic() - started < 5 and not good
    assert [(f.file, f.reason) for f in failures] == [
        (str(pipe), "not a regular file (a named pipe); photos are read from regular files only")
    ]


def test_predict_refuses_a_file_over_the_archive_cap_without_reading_it(tmp_path) -> None:
    import tracemalloc

    from stages.ingest.decode import MAX_MEMBER_BYTES
    from stages.tools.predict import load_photos

    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as handle:
        handle.truncate(MAX_MEMBER_BYTES + 1)  # sparse: no disk, but a reader gets it all
    tracemalloc.start()
    _, _, failures = load_photos([huge], 32, 32)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [f.reason for f in failures] == [
        f"{MAX_MEMBER_BYTES + 1:,} bytes, over the {MAX_MEMBER_BYTES:,}-byte cap for a photo"
    ]
    assert peak < 1_000_000


def test_predict_on_a_folder_without_photos_is_an_error_naming_it(tmp_path, untrained_model):
    empty = tmp_path / "holiday"
    (empty / "inside").mkdir(parents=True)
    (empty / "inside" / "cat.jpg").write_bytes(b"only in a subfolder")
    (empty / "notes.txt").write_text("no photo here")
    model = ["--model", str(untrained_model)]
    result = runner.invoke(app, ["predict", str(empty), *model])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {empty}: a folder with no photos directly in it "
        "(looked for .bmp .gif .jpeg .jpg .png .webp)"
    ]
    result = runner.invoke(app, ["predict", str(tmp_path / "holi*"), *model])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'holi*'}: no such file (the pattern yields no photo)"
    ]


@pytest.fixture
def editable(tmp_path, repo) -> tuple[Path, list[str]]:
    """A params file of its own, and `catdog split` arguments on a 100-photo index."""
    params = write_params(tmp_path, repo)
    index = tmp_path / "index.csv"
    rows = [f"{kind}.{i}.jpg,{kind},{i}" for i in range(50) for kind in ("cat", "dog")]
    index.write_text("filename,category,row\n" + "\n".join(rows) + "\n")
    arguments = [
        *("--params", str(params), "split", "--index", str(index)),
        *("--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv")),
        *("--validation", str(tmp_path / "validation.csv")),
    ]
    return params, arguments


def split_editing(monkeypatch, edit) -> None:
    """The split stage, then `edit()`: the params file changes while the command runs."""
    from stages.ingest import split

    real = split.run

    def run_then_edit(*args: object) -> None:
        real(*args)
        edit()

    monkeypatch.setattr(split, "run", run_then_edit)


def test_params_edited_while_a_command_runs_fail_it_in_one_line(editable, monkeypatch) -> None:
    params, arguments = editable
    text = params.read_text()
    split_editing(monkeypatch, lambda: params.write_text(text.replace("seed: 42", "seed: 7")))
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [
        f"error: {params} changed while split ran: split.seed (42 -> 7); run it again"
    ]
    # Under DVC the stage is named, and the advice is DVC's.
    params.write_text(text)
    monkeypatch.setenv("DVC_STAGE", "split")
    result = runner.invoke(app, arguments)
    assert error_lines(result.stderr) == [
        f"error: {params} changed while split ran: split.seed (42 -> 7); run dvc repro again"
    ]


def test_a_comment_edited_while_a_command_runs_is_no_change(editable, monkeypatch) -> None:
    params, arguments = editable
    split_editing(monkeypatch, lambda: params.write_text("# edited\n" + params.read_text()))
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert error_lines(result.stderr) == []


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]
