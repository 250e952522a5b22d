"""End to end: the real `dvc repro` on a tiny synthetic set, all six variations."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dvc.repo import Repo
from PIL import Image

from stages.core.runs import CURVES, curve_file, read_history
from tests.support.params import edit_params
from tests.support.params import set_param as _set
from tests.support.prepared import SMALLEST_SIDE
from tests.support.workspace import make_workspace, run, tool_environment

pytestmark = pytest.mark.slow


VARIATIONS = ("base", "v1", "v2", "v3", "v4", "v5", "v6", "v7")


TINY_COUNT = 120


def tiny(params) -> None:
    params["image"].update(height=SMALLEST_SIDE, width=SMALLEST_SIDE)
    for variation in params["variations"].values():
        variation["epochs"] = 1  # v6's maximum too
    # v7: random weights (no download), its frozen phase the one epoch.
    params["variations"]["v7"]["backbone"].update({"weights": None, "frozen_epochs": 1})


IMPORT_PROBE = Path(__file__).parent / "import_probe"


@pytest.fixture(scope="module")
def import_log(tmp_path_factory) -> Path:
    """Where each stage's process records the project modules it loaded."""
    return tmp_path_factory.mktemp("imports")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, import_log) -> Path:
    """A git + DVC copy of the project, reproduced once on the tiny synthetic set, with
    every stage's command recording the project modules it loads (import_probe)."""
    root = make_workspace(tmp_path_factory.mktemp("project"), tiny, TINY_COUNT)
    # The probe first on the path, then the caller's (where `stages` may come from).
    path = os.pathsep.join(filter(None, [str(IMPORT_PROBE), os.environ.get("PYTHONPATH")]))
    probe = {"PYTHONPATH": path, "CATDOG_IMPORT_LOG": str(import_log)}
    run(["dvc", "repro"], root, env=probe)
    return root


def test_every_variation_has_metrics(workspace) -> None:
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], workspace).stdout)
    files = next(iter(shown.values()))["data"]
    for name in VARIATIONS:
        metrics = files[f"metrics/{name}.json"]["data"]
        test = files[f"runs/{name}/42/test.json"]["data"]
        training = files[f"runs/{name}/42/train.json"]["data"]
        # One seed: the summary's mean is that run's value, with no spread.
        assert metrics["accuracy"] == test["accuracy"] and metrics["seeds"] == 1
        assert metrics["train_seconds"] == training["train_seconds"] > 0
        assert training["epochs"] == 1 and training["seed"] == 42
        # The metrics agree with the per-photo predictions DVC keeps beside them.
        run_folder = workspace / "runs" / name / "42"
        predictions = (run_folder / "predictions.csv").read_text().splitlines()
        pairs = [tuple(row.split(",")[1:3]) for row in predictions[1:]]  # (actual, predicted)
        assert metrics["confusion"] == {
            "tn": pairs.count(("cat", "cat")),
            "fp": pairs.count(("cat", "dog")),
            "fn": pairs.count(("dog", "cat")),
            "tp": pairs.count(("dog", "dog")),
        }
        assert metrics["test_images"] == len(pairs) > 0
        correct = pairs.count(("cat", "cat")) + pairs.count(("dog", "dog"))
        assert metrics["accuracy"] == round(correct / len(pairs), 6)
        for curve in CURVES:  # dvclive's, its step the epoch from 1
            rows = curve_file(run_folder / "dvclive", curve).read_text().splitlines()
            assert rows[0] == f"step\t{curve}" and [row.split("\t")[0] for row in rows[1:]] == ["1"]
        live = json.loads((run_folder / "dvclive" / "metrics.json").read_text())
        assert live["step"] == 1 and set(live) == {*CURVES, "step"}
        mean = (workspace / "plots" / name / "history.csv").read_text().splitlines()
        assert mean[0].startswith("epoch,accuracy,loss,val_accuracy,val_loss,accuracy_min")
    v6 = files["metrics/v6.json"]["data"]
    assert (v6["best_epoch"], v6["stopped_epoch"]) == (1, 1)
    # `dvc metrics show` leaves out null values: v4's own file has them.
    assert json.loads((workspace / "metrics/v4.json").read_text())["best_epoch"] is None
    compare = (workspace / "metrics" / "compare.md").read_text()
    assert compare.startswith("# Variations compared: a smoke test, not a result (120 synthetic")
    assert compare.count("\n| ") == 9  # header + eight variations
    assert "Epochs: v6 (v4 with early stopping, at most 1 epochs)" in compare
    assert "| v4 | v2 |" in compare and "| >0.90 | <0.25 | 1.69 h |" in compare
    assert "test accuracy (`compare.best_by: accuracy` in params.yaml)" in compare
    verdict = json.loads((workspace / "metrics" / "compare.json").read_text())
    assert [pair["variation"] for pair in verdict["pairs"]] == list(VARIATIONS[1:])
    assert all(0.0 <= p <= 1.0 for pair in verdict["pairs"] for p in pair["models"]["mcnemar_p"])
    assert (workspace / "metrics" / "compare.html").read_text().count("<tr>") == 9
    assert (workspace / "data" / "rejected.csv").read_text().count("\n") > 1


FIGURES = (
    "plots/class_counts.png",
    "plots/samples.png",
    "plots/curves_all.png",
    "plots/gallery.png",
    *(f"plots/{v}/{figure}.png" for v in VARIATIONS for figure in ("curves", "confusion", "roc")),
)


def test_every_figure_is_drawn_and_declared_as_a_plot(workspace) -> None:
    for figure in FIGURES:
        with Image.open(workspace / figure) as image:
            assert image.format == "PNG" and image.width > 300, figure
            assert "Software" not in image.info, figure
    declared = json.loads(run(["dvc", "plots", "show", "--json"], workspace).stdout)["data"]
    assert set(FIGURES) <= set(declared)
    for name in VARIATIONS:
        run_folder = workspace / "runs" / name / "42"
        rows = (run_folder / "predictions.csv").read_text().splitlines()
        assert rows[0] == "filename,actual,predicted,dog_probability" and len(rows) > 10
        assert (run_folder / "roc.csv").read_text().startswith("fpr,tpr\n")


def test_history_plots_run_over_whole_epochs_with_titled_axes(workspace) -> None:
    shown = json.loads(run(["dvc", "plots", "show", "--json"], workspace).stdout)["data"]
    runs = {title: renders for title, renders in shown.items() if "/dvclive/" in title}
    assert set(runs) == {
        f"runs/{name}/42/dvclive/plots/metrics/{curve}.tsv"
        for name in VARIATIONS
        for curve in CURVES
    }
    # Each run's own curves, dvclive's: its step is the epoch counted from 1, titled so.
    for title, (render,) in runs.items():
        encoding = render["content"]["encoding"]
        assert (encoding["x"]["field"], encoding["x"]["title"]) == ("step", "epoch")
        assert encoding["x"]["axis"] == {"format": "d", "tickMinStep": 1}
        assert encoding["y"]["title"] == Path(title).stem
        assert {row["step"] for row in render["content"]["data"]["values"]} == {"1"}
    # Each variation's mean curves, train beside validation (split.validation is 0.1);
    # overlaid, every variation's validation curve, its y axis saying so.
    for name in (*VARIATIONS, None):
        for metric in ("accuracy", "loss"):
            ((render,),) = [shown[f"plots/{name}/{metric}.csv" if name else f"plots/{metric}.csv"]]
            encoding = render["content"]["encoding"]
            assert encoding["x"]["field"] == "epoch"
            assert encoding["x"]["axis"] == {"format": "d", "tickMinStep": 1}
            y_title = metric if name else f"validation_{metric}"
            assert (encoding["x"]["title"], encoding["y"]["title"]) == ("epoch", y_title)
            rows = render["content"]["data"]["values"]
            assert {row["epoch"] for row in rows} == {"1"}
            curves = {"train", "validation"} if name else set(VARIATIONS)
            assert {row["curve"] for row in rows} == curves
            assert "test" not in json.dumps(encoding)


def get_registered_model(workspace: Path, artifact: str, out: Path) -> None:
    """Register an artifact as the model registry does (a GTO tag on a commit with
    dvc.lock), `dvc artifacts get` it into `out`, then put the workspace's git state back."""
    identity = ["-c", "user.name=catdog", "-c", "user.email=catdog@example.com"]
    run(["git", "add", "dvc.lock", "params.yaml"], workspace)
    run(["git", *identity, "commit", "-qm", "lock"], workspace)
    try:
        run(["git", *identity, "tag", "-a", f"{artifact}@v0.1.0", "-m", artifact], workspace)
        run(["dvc", "artifacts", "get", str(workspace), artifact, "-o", str(out)], out.parent)
    finally:
        run(["git", "tag", "-d", f"{artifact}@v0.1.0"], workspace, check=False)
        run(["git", "reset", "-q", "HEAD~1"], workspace)


def test_a_second_repro_does_nothing(workspace) -> None:
    status = run(["dvc", "status"], workspace).stdout
    assert "up to date" in status
    repro = run(["dvc", "repro"], workspace)
    assert "Running stage" not in repro.stdout + repro.stderr


def loaded_by_stage(import_log: Path) -> dict[str, set[str]]:
    """The project files each stage's processes loaded, as the import probe recorded them."""
    loaded: dict[str, set[str]] = defaultdict(set)
    for record in import_log.glob("*.txt"):
        stage = record.name.rsplit(".", 2)[0]
        loaded[stage] |= set(record.read_text().split())
    return dict(loaded)


def stages_missing_deps(workspace: Path, loaded: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edit each file some stage loaded, in turn, and ask DVC which stages that changed: per
    stage, the files it loaded whose edit DVC did not notice."""
    missing: dict[str, set[str]] = defaultdict(set)
    for relative in sorted(set().union(*loaded.values())):
        path = workspace / relative
        original = path.read_bytes()
        path.write_bytes(original + b"\n# an edit by the deps test\n")
        try:
            with Repo(str(workspace)) as repo:
                # Keyed `<path to dvc.yaml>:<stage>` when run from another folder.
                changed = {key.rsplit(":", 1)[-1] for key in repo.status()}
        finally:
            path.write_bytes(original)
        for stage, files in loaded.items():
            if relative in files and stage not in changed:
                missing[stage].add(relative)
    return dict(missing)


def test_deps_cover_every_module_each_stage_loads(workspace, import_log) -> None:
    loaded = loaded_by_stage(import_log)
    stages = set(json.loads(run(["dvc", "status", "--json"], workspace).stdout) or {})
    listed = run(["dvc", "stage", "list", "--names-only"], workspace).stdout.split()
    assert not stages and set(loaded) == set(listed), "every stage ran under the probe"
    assert all("stages/cli.py" in files for files in loaded.values())
    assert stages_missing_deps(workspace, loaded) == {}


def test_deps_check_names_a_stage_that_loads_a_file_it_does_not_depend_on(
    workspace, import_log
) -> None:
    split = loaded_by_stage(import_log)["split"]
    assert "stages/tools/predict.py" not in split
    missing = stages_missing_deps(workspace, {"split": {*split, "stages/tools/predict.py"}})
    assert missing == {"split": {"stages/tools/predict.py"}}


def test_editing_a_drawing_module_reruns_no_training_or_evaluation(workspace) -> None:
    path = workspace / "stages" / "reporting" / "figures.py"
    original = path.read_bytes()
    path.write_bytes(original + b"\n# a drawing-only edit\n")
    try:
        status = json.loads(run(["dvc", "status", "--json"], workspace).stdout)
    finally:
        path.write_bytes(original)
    assert set(status) == {"inspect", "compare", *(f"summarize@{v}" for v in VARIATIONS)}


@pytest.fixture(scope="module")
def plots_page(workspace, tmp_path_factory) -> Path:
    """`dvc plots show`'s HTML page, with the offline template .dvc/config names."""
    out = tmp_path_factory.mktemp("dvc_plots")
    run(["dvc", "plots", "show", "-o", str(out)], workspace)
    return out / "index.html"


def test_plots_render_for_every_variation_with_no_network_scripts(plots_page) -> None:
    html = plots_page.read_text()
    for name in VARIATIONS:
        assert f'id = "plots_{name}_accuracy_csv"' in html  # summarize's curves
        assert f'id = "plots_{name}_loss_csv"' in html
        assert f'id = "runs_{name}_42_predictions_csv"' in html  # DVC's confusion template
        assert f'id = "runs_{name}_42_roc_csv"' in html
        for curve in CURVES:  # each run's own curves, as dvclive wrote them
            assert f'id = "runs_{name}_42_dvclive_plots_metrics_{curve}_tsv"' in html
    assert "vegaEmbed(" in html and "<script>" in html  # vega inlined, not fetched
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    assert "cdn.jsdelivr.net" not in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
)


def chromium(page: Path, *args: str) -> str:
    """Run headless Chromium on a local page, with a fresh profile; its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 0, result.stderr
    return result.stdout


def drawn_pixels(screenshot: Path) -> float:
    """The share of a screenshot's pixels that are not white."""
    with Image.open(screenshot) as image:
        rgb = np.asarray(image.convert("RGB"))
    return float((rgb.min(axis=2) < 235).mean())


VENDORED_SCRIPT = r"<!-- vega[-a-z]* [^>]*-->\s*<script>.*?</script>"
VEGA_DIV = r'<div id = "[^"]+">\s*<script type = "text/javascript">.*?</script>\s*</div>'


def charts_only(page: Path, with_vega: bool) -> Path:
    """A copy of the page with only its vega charts (no image plots), and optionally
    without the inlined vega libraries: then nothing can draw."""
    html = page.read_text()
    head = html[: html.rindex("<body>")]
    if not with_vega:
        head, removed = re.subn(VENDORED_SCRIPT, "", head, flags=re.DOTALL)
        assert removed == 3
    charts = re.findall(VEGA_DIV, html, flags=re.DOTALL)
    assert len(charts) == html.count("vegaEmbed(")
    copy = page.with_name(f"charts_{'with' if with_vega else 'without'}_vega.html")
    copy.write_text(f"{head}<body>\n{chr(10).join(charts)}\n</body>\n</html>\n")
    return copy


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)")
def test_plots_show_draws_its_charts_offline_in_a_real_browser(plots_page) -> None:
    dom = chromium(plots_page, "--dump-dom")
    vega_plots = plots_page.read_text().count("vegaEmbed(")
    assert dom.count("<canvas") + dom.count("<svg") >= vega_plots > 12, "vega drew no charts"
    ARTIFACTS.mkdir(exist_ok=True)
    pages = {
        "dvc_plots_show": plots_page,
        "charts_with_vega": charts_only(plots_page, with_vega=True),
        "charts_without_vega": charts_only(plots_page, with_vega=False),
    }
    drawn = {}
    for name, page in pages.items():
        shot = ARTIFACTS / f"{name}.png"
        shot.unlink(missing_ok=True)
        chromium(page, f"--screenshot={shot}", "--window-size=1400,2400")
        assert shot.is_file(), f"Chromium wrote no screenshot of {page}"
        drawn[name] = drawn_pixels(shot)
        print(f"\nscreenshot: {shot} ({drawn[name]:.1%} of pixels drawn)", end="")
    print(f"\n{vega_plots} vega charts in {plots_page}")
    assert drawn["dvc_plots_show"] > 0.01, "a blank page"
    # The same page minus its images: with vega it draws charts, without it almost nothing.
    assert drawn["charts_with_vega"] > 0.01
    assert drawn["charts_with_vega"] > 5 * drawn["charts_without_vega"], "vega drew nothing"


def test_editing_one_variation_invalidates_only_its_stages(workspace) -> None:
    original = (workspace / "params.yaml").read_text()
    try:
        edit_params(workspace, lambda p: p["variations"]["v5"].__setitem__("batch_size", 16))
        status = json.loads(run(["dvc", "status", "--json"], workspace).stdout)
        # validate tracks every block (and refuses unsafe names); its marker stays
        # byte-identical, so it reruns nothing after it.
        assert set(status) == {
            "validate",
            "train@v5-42",
            "evaluate@v5-42",
            "compare",
        }
    finally:
        (workspace / "params.yaml").write_text(original)


def test_seeds_a_validation_split_and_the_registered_model(workspace) -> None:
    original = (workspace / "params.yaml").read_text()
    try:
        edit_params(workspace, _set("train.seeds", [42, 7]))
        edit_params(workspace, _set("split.validation", 0.25))
        status = json.loads(run(["dvc", "status", "--json"], workspace).stdout)
        assert {"train@v4-7", "evaluate@v4-7", "summarize@v4", "split"} <= set(status)
        run(["dvc", "repro", "summarize@v4"], workspace)
        splits = {
            name: set(pd.read_csv(workspace / f"data/split/{name}.csv")["filename"])
            for name in ("train", "test", "validation")
        }
        assert splits["validation"] and not splits["validation"] & splits["train"]
        assert not splits["validation"] & splits["test"] and not splits["train"] & splits["test"]
        summary = json.loads((workspace / "metrics/v4.json").read_text())
        assert summary["seeds"] == 2 and set(summary["per_seed"]) == {"42", "7"}
        values = [summary["per_seed"][seed]["accuracy"] for seed in ("42", "7")]
        assert summary["accuracy"] == pytest.approx(sum(values) / 2, abs=1e-6)
        assert summary["sd"]["accuracy"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
        interval = summary["ci95"]["accuracy"]
        assert interval["low"] <= summary["accuracy"] <= interval["high"]
        history = read_history(workspace / "runs/v4/7/dvclive")
        assert list(history["epoch"]) == [1]
        # The registered model follows train.seeds: one model per seed comes back.
        got = Path(tempfile.mkdtemp()) / "v4"
        get_registered_model(workspace, "catdog-v4", got)
        for seed in (42, 7):
            model = workspace / "models" / "v4" / f"{seed}.keras"
            assert (got / f"{seed}.keras").read_bytes() == model.read_bytes()
    finally:
        (workspace / "params.yaml").write_text(original)
        run(["dvc", "repro"], workspace)  # back to one seed, from DVC's run-cache
    assert "up to date" in run(["dvc", "status"], workspace).stdout


# --- Never lose work: bad input, crashes, concurrency, determinism -------------------

OUTPUT_FOLDERS = ("models", "metrics", "plots", "data/cache", "data/split", "data/raw")


def snapshot(workspace: Path) -> dict[str, bytes]:
    """Every file DVC produced, by path (the markers under data/validated excepted)."""
    return {
        str(path.relative_to(workspace)): path.read_bytes()
        for folder in OUTPUT_FOLDERS
        for path in sorted((workspace / folder).rglob("*"))
        if path.is_file()
    }


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _cat_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (50, 40), (200, 100, 50)).save(buffer, format="JPEG")
    return buffer.getvalue()


_V = {
    "kernel_size": 3,
    "pool_size": 2,
    "dense_units": [],
    "optimizer": "adam",
    "learning_rate": 0.001,
    "batch_size": 8,
    "epochs": 1,
    "early_stopping": None,
    "plateau": None,
    "backbone": None,
}

BAD_INPUTS = {
    "unknown key": (_set("variations.v5.dropout", 0.5), "variations.v5.dropout: unknown key"),
    "wrong type": (_set("variations.v5.batch_size", "big"), "variations.v5.batch_size: Input"),
    "zero batch": (_set("variations.v5.batch_size", 0), "variations.v5.batch_size: Input should"),
    "negative epochs": (_set("variations.v4.epochs", -2), "variations.v4.epochs: Input should"),
    "test_size": (_set("split.test_size", 1.5), "split.test_size: Input should be less than 1"),
    "optimizer": (_set("variations.v4.optimizer", "adamw"), "variations.v4.optimizer: Input"),
    "builds_on": (_set("variations.v3.builds_on", "v9"), "variations.v3.builds_on: no variation"),
    "missing archive": (_set("data.source", "missing.zip"), "data.source: missing.zip: no such"),
    "no photos": (
        _set("data.source", "empty.zip"),
        "data.source: empty.zip: no photos in either layout",
    ),
    "kaggle without credentials": (
        _set("data.source", "sources/kaggle.yaml"),
        "data.source kaggle: no credentials; put kaggle.json in ~/.kaggle",
    ),
    "one class": (
        _set("data.source", "cats.zip"),
        "data.source: cats.zip: only cat photos",
    ),
    "shell in a variation name": (
        _set("variations.x;touch PWNED;", {"builds_on": None, "conv_filters": [4], **_V}),
        "variations: names must match [A-Za-z0-9_]+",
    ),
    "compare.best_by": (_set("compare.best_by", "f1"), "compare.best_by: Input should be"),
    "builds_on cycle": (_set("variations.v4.builds_on", "v5"), "variations.v4.builds_on: cycle"),
    "no variations": (_set("variations", {}), "variations: Dictionary should have at least 1"),
    "synthetic seed": (
        _set("data.source", "negative-seed.yaml"),
        "negative-seed.yaml: seed: Input should be greater than or equal to 0",
    ),
    "archive inside an output": (
        _set("data.source", "data/cache/mine.zip"),
        "data.source: data/cache/mine.zip is inside the pipeline's outputs",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_by_name_before_anything_is_lost(
    workspace, case, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path))  # an empty folder
    edit, message = BAD_INPUTS[case]
    _zip(workspace / "empty.zip", {"readme.txt": b"nothing here"})
    _zip(workspace / "cats.zip", {f"PetImages/Cat/{i}.jpg": _cat_jpeg() for i in range(3)})
    manifest = "kind: synthetic\ncount: 40\nseed: -1\nlayout: microsoft\n"
    (workspace / "negative-seed.yaml").write_text(manifest)
    before = snapshot(workspace)
    original = (workspace / "params.yaml").read_text()
    try:
        edit_params(workspace, edit)
        result = run(["dvc", "repro"], workspace, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert f"error: params.yaml: {message}" in output or f"error: {message}" in output
        assert "Traceback" not in output
        assert snapshot(workspace) == before
        assert not (workspace / "PWNED").exists()
    finally:
        (workspace / "params.yaml").write_text(original)
    restored = run(["dvc", "repro"], workspace)
    for stage in ("download", "decode", "split", "train@", "evaluate@", "compare"):
        assert f"Running stage '{stage}" not in restored.stdout, "valid again: nothing reruns"
    assert snapshot(workspace) == before


def test_an_archive_at_the_download_output_is_never_deleted(workspace) -> None:
    """data.source: data/raw/photos.zip makes download depend on its own output: DVC
    refuses the pipeline before running anything, and the user's file stays."""
    archive = workspace / "data/raw/photos.zip"
    original_bytes, original = archive.read_bytes(), (workspace / "params.yaml").read_text()
    users = _zip(workspace / "users.zip", {"PetImages/Cat/1.jpg": _cat_jpeg()}).read_bytes()
    archive.write_bytes(users)
    try:
        edit_params(workspace, _set("data.source", "data/raw/photos.zip"))
        result = run(["dvc", "repro"], workspace, check=False)
        assert result.returncode != 0
        assert "defined as both a dependency and an output in stage: download" in result.stderr
        assert archive.read_bytes() == users
    finally:
        (workspace / "params.yaml").write_text(original)
        archive.write_bytes(original_bytes)
    assert "up to date" in run(["dvc", "status"], workspace).stdout


def test_a_local_archive_edited_in_place_reruns_download(workspace) -> None:
    original = (workspace / "params.yaml").read_text()
    local = workspace / "local.zip"
    shutil.copy(workspace / "data/raw/photos.zip", local)
    try:
        edit_params(workspace, _set("data.source", "local.zip"))
        # The same photos: only compare reruns (real photos make no smoke-test heading).
        rerun = run(["dvc", "repro"], workspace).stdout
        assert re.findall(r"Running stage '([^']+)'", rerun) == ["validate", "download", "compare"]
        assert "up to date" in run(["dvc", "status"], workspace).stdout
        _zip(local, {"PetImages/Cat/1.jpg": _cat_jpeg(), "PetImages/Dog/1.jpg": _cat_jpeg()})
        status = json.loads(run(["dvc", "status", "--json"], workspace).stdout)
        assert status["download"] == [{"changed deps": {"local.zip": "modified"}}]
    finally:
        (workspace / "params.yaml").write_text(original)
        run(["dvc", "repro"], workspace)
    assert "up to date" in run(["dvc", "status"], workspace).stdout


def _checkpoint_history(workspace: Path) -> list[Path]:
    return sorted((workspace / ".checkpoints").glob("v4-*/history.csv"))


def test_kill_minus_9_mid_training_then_repro_resumes(workspace) -> None:
    original = (workspace / "params.yaml").read_text()
    epochs = 10
    try:
        edit_params(workspace, _set("variations.v4.epochs", epochs))
        edit_params(workspace, _set("train.backup_seconds", 0))  # a backup every epoch
        victim = subprocess.Popen(
            ["dvc", "repro", "train@v4-42"],
            cwd=workspace,
            env=tool_environment(),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            histories = _checkpoint_history(workspace)
            if histories and histories[0].read_text().count("\n") - 1 >= 6:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("training never reached 60%")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        resumed = run(["dvc", "repro", "train@v4-42"], workspace)
        log = resumed.stdout + resumed.stderr
        assert "resuming after epoch" in log
        assert "Epoch 1/" not in log and f"Epoch {epochs}/{epochs}" in log
        live = workspace / "runs/v4/42/dvclive"
        for curve in CURVES:  # every file dvclive wrote: each epoch once
            steps = pd.read_csv(curve_file(live, curve), sep="\t")["step"]
            assert list(steps) == list(range(1, epochs + 1)), curve
        assert json.loads((live / "metrics.json").read_text())["step"] == epochs
        # The epochs the resumed run skipped (checked above) are what makes it faster than
        # a fresh run; wall time on a busy 2-core machine is too noisy to assert on.
        assert not list((workspace / ".checkpoints").iterdir())
    finally:
        (workspace / "params.yaml").write_text(original)
        run(["dvc", "repro"], workspace)


def test_a_second_repro_while_one_runs_is_refused_and_the_same_seed_scores_the_same(
    workspace,
) -> None:
    """A forced rerun of train@v4-42 holds DVC's lock: a second `dvc repro` meanwhile is
    refused. The rerun, same seed on the CPU, ends with the same test metrics as the first."""
    before = json.loads((workspace / "runs/v4/42/test.json").read_text())
    first = subprocess.Popen(
        ["dvc", "repro", "-f", "train@v4-42"],
        cwd=workspace,
        env=tool_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list((workspace / ".checkpoints").glob("v4-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run(["dvc", "repro"], workspace, check=False)
    output, _ = first.communicate(timeout=300)
    assert second.returncode != 0
    # DVC locks what a running stage reads and writes; a second repro that needs them
    # stops, naming the busy path and the process holding it.
    assert "is busy, it is being blocked by" in second.stderr
    assert "dvc repro -f train@v4-42" in second.stderr
    assert first.returncode == 0, output
    run(["dvc", "repro"], workspace)  # evaluate@v4 and compare follow the new model
    assert "up to date" in run(["dvc", "status"], workspace).stdout
    after = json.loads((workspace / "runs/v4/42/test.json").read_text())
    assert after == before
