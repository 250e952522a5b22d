"""dvc.yaml's shape: one validation stage upstream of everything, runs by variation and
seed, figures where their data is made, plots and artifacts that follow params.yaml."""

from __future__ import annotations

import json
import re

import pandas as pd
from ruamel.yaml import YAML

from stages.core.config import load_params
from stages.reporting.plot import curve_tables, overlay_tables


def load(repo):
    return YAML(typ="safe").load((repo / "dvc.yaml").read_text())


def body(stage: dict) -> dict:
    return stage.get("do") or stage


def _outputs(stage) -> list[str]:
    listed = [*stage.get("outs", []), *stage.get("metrics", []), *stage.get("plots", [])]
    return [next(iter(entry)) if isinstance(entry, dict) else entry for entry in listed]


def test_the_graph_is_short_and_reads_top_to_bottom(repo) -> None:
    stages = load(repo)["stages"]
    assert list(stages) == [
        "validate",
        "download",
        "decode",
        "inspect",
        "split",
        "train",
        "evaluate",
        "summarize",
        "compare",
    ]
    assert len((repo / "dvc.yaml").read_text().splitlines()) <= 300


def test_figures_are_drawn_where_their_data_is_made(repo) -> None:
    stages = load(repo)["stages"]
    assert _outputs(stages["inspect"])[1:] == ["plots/class_counts.png", "plots/samples.png"]
    summarized = _outputs(body(stages["summarize"]))
    for name in ("accuracy.csv", "loss.csv", "curves.png", "confusion.png", "roc.png"):
        assert f"plots/${{key}}/{name}" in summarized
    compared = _outputs(stages["compare"])
    for name in ("accuracy.csv", "loss.csv", "curves_all.png", "gallery.png"):
        assert f"plots/{name}" in compared
    (confusion,), (roc,) = (entry.values() for entry in stages["evaluate"]["plots"])
    assert (confusion["template"], confusion["x"], confusion["y"]) == (
        "confusion",
        "actual",
        "predicted",
    )
    assert (roc["template"], roc["x"], roc["y"]) == ("simple", "fpr", "tpr")


def test_the_curves_say_which_photos_they_were_measured_on(repo) -> None:
    """Per variation, train beside validation or test (split.validation); overlaid, every
    variation's curve with the y field named for the held-out photos."""
    history = pd.DataFrame(
        {"epoch": [1, 2], "accuracy": [0.5, 0.6], "loss": [0.7, 0.6]}
        | {"val_accuracy": [0.55, 0.65], "val_loss": [0.69, 0.62]}
    )
    for held_out in ("validation", "test"):
        tables = curve_tables(history, held_out)
        assert set(tables["accuracy"]["curve"]) == {"train", held_out}
        assert list(tables["loss"].columns) == ["epoch", "curve", "loss"]
        held = tables["accuracy"][tables["accuracy"]["curve"] == held_out]
        assert list(held["accuracy"]) == [0.55, 0.65]
        overlay = overlay_tables({"v4": history, "v5": history}, held_out)
        assert list(overlay["accuracy"].columns) == ["epoch", "curve", f"{held_out}_accuracy"]
        assert set(overlay["loss"]["curve"]) == {"v4", "v5"}
    template = json.loads((repo / ".dvc" / "plots" / "curves.json").read_text())
    assert template["encoding"]["color"]["field"] == "curve"
    stages = load(repo)["stages"]
    for stage in (body(stages["summarize"]), stages["compare"]):
        for entry in stage["plots"]:
            ((path, spec),) = entry.items() if isinstance(entry, dict) else [(entry, {})]
            if path.endswith(".csv"):
                assert (spec["template"], spec["x"]) == ("curves", "epoch"), path
    assert "split.validation" in body(stages["summarize"])["params"]
    assert "split.validation" in stages["compare"]["params"]


def test_runs_are_variation_by_seed_and_track_only_their_own_variation(repo) -> None:
    stages = load(repo)["stages"]
    for name in ("train", "evaluate"):
        assert stages[name]["matrix"] == {"variation": "${variations}", "seed": "${train.seeds}"}
    params = stages["train"]["params"]
    assert "variations.${item.variation}" in params and "variations" not in params
    # Adding a seed must not rerun the runs of the other seeds.
    assert "train" not in params and "train.seeds" not in params
    assert "train.seeds" in body(stages["summarize"])["params"]


def test_metrics_are_small_uncached_json(repo) -> None:
    stages = load(repo)["stages"]
    assert body(stages["summarize"])["metrics"] == [{"metrics/${key}.json": {"cache": False}}]
    run = "runs/${item.variation}/${item.seed}"
    assert stages["evaluate"]["metrics"] == [{f"{run}/test.json": {"cache": False}}]
    assert stages["train"]["metrics"] == [
        {f"{run}/train.json": {"cache": False}},
        {f"{run}/dvclive/metrics.json": {"cache": False}},  # the last epoch's, from dvclive
    ]


def test_validate_tracks_every_block_and_guards_what_params_could_cost(repo) -> None:
    stages = load(repo)["stages"]
    validate = stages["validate"]
    blocks = set(load_params(repo / "params.yaml").model_dump())
    assert set(validate["params"]) == blocks
    assert validate["outs"] == ["${path.valid}"]
    for name in ("download", "train", "compare"):
        assert "${path.valid}" in body(stages[name])["deps"], name
    # A split that cannot be made is refused by inspect, upstream of split.
    assert "${path.splittable}" in stages["split"]["deps"]
    assert stages["inspect"]["params"] == ["split"]


def _commands(stages) -> dict[str, str]:
    return {name: body(stage)["cmd"] for name, stage in stages.items()}


def test_every_variation_name_in_a_command_is_single_quoted(repo) -> None:
    for name, cmd in _commands(load(repo)["stages"]).items():
        unquoted = re.sub(r"'[^']*'", "", cmd)
        assert "${key}" not in unquoted and "${item." not in unquoted, f"{name}: {cmd}"


def _resolve(path: str, paths: dict[str, str]) -> str:
    """A templated path as it reads for variation v4 and seed 42."""
    for template, value in (("${key}", "v4"), ("${item.variation}", "v4"), ("${item.seed}", "42")):
        path = path.replace(template, value)
    for key, value in paths.items():
        path = path.replace(f"${{path.{key}}}", value)
    return path


def test_validate_runs_before_every_other_stage(repo) -> None:
    """A variation's name reaches a shell only after validate, which tracks the names
    (variations), has refused unsafe ones; so do the compare params, and a builds_on cycle
    stops whichever stage is asked for."""
    dvc = load(repo)
    stages, paths = dvc["stages"], dvc["vars"][0]["path"]
    producer = {}
    for name, stage in stages.items():
        for out in _outputs(body(stage)):
            producer[_resolve(out, paths)] = name

    def upstream(name: str) -> set[str]:
        found = set()
        for dep in (_resolve(dep, paths) for dep in body(stages[name]).get("deps", [])):
            # A folder dep depends on every output inside it.
            for out, parent in producer.items():
                if out == dep or out.startswith(f"{dep}/"):
                    found |= {parent, *upstream(parent)}
        return found

    for name in stages:
        if name != "validate":
            assert "validate" in upstream(name), name


def test_every_params_block_a_stage_reads_is_validated_upstream(repo) -> None:
    stages = load(repo)["stages"]
    validated = set(stages["validate"]["params"])
    for name, stage in stages.items():
        for block in body(stage).get("params", []):
            assert block.split(".")[0] in validated, f"{name}: {block}"


def test_each_run_plots_its_own_curves_against_epoch(repo) -> None:
    train = load(repo)["stages"]["train"]
    ((history, spec),) = train["plots"][0].items()  # each run's own curves, dvclive's TSVs
    assert history == "runs/${item.variation}/${item.seed}/dvclive/plots/metrics"
    # dvclive's step is the 1-based epoch (stages/training/history.py), titled so.
    assert (spec["template"], spec["x"], spec["x_label"]) == ("epochs", "step", "epoch")
    for template in ("epochs", "curves"):
        text = (repo / ".dvc" / "plots" / f"{template}.json").read_text()
        assert '"format": "d"' in text and '"tickMinStep": 1' in text


def test_every_variation_is_an_artifact_whatever_its_seeds(repo) -> None:
    artifacts = load(repo)["artifacts"]
    variations = list(load_params(repo / "params.yaml").variations)
    assert sorted(artifacts) == sorted(f"catdog-{name}" for name in variations)
    for name in variations:
        artifact = artifacts[f"catdog-{name}"]
        # The variation's folder: one model per seed of train.seeds.
        assert artifact["path"] == f"models/{name}"
        assert artifact["type"] == "model" and artifact["desc"].startswith(f"{name}:")


def test_the_root_holds_no_placeholder_files(repo) -> None:
    files = [path.name for path in repo.iterdir() if path.is_file()]
    stray = [name for name in files if not name.startswith(".") and "." not in name]
    assert set(stray) <= {"Makefile", "LICENSE"}, stray
    download = load(repo)["stages"]["download"]
    assert "${data.source}" in download["deps"]
    for manifest in ("microsoft", "kaggle", "synthetic"):
        text = (repo / "sources" / f"{manifest}.yaml").read_text()
        assert f"kind: {manifest}" in text
