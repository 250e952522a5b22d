"""dvc.yaml stays in step with params.yaml where DVC cannot template (top-level plots,
the compare stage's deps)."""

from __future__ import annotations

import re

from ruamel.yaml import YAML

from stages.core.config import load_params


def load(repo):
    return YAML(typ="safe").load((repo / "dvc.yaml").read_text())


def test_every_variation_is_plotted_and_compared(repo) -> None:
    dvc = load(repo)
    variations = list(load_params(repo / "params.yaml").variations)
    plotted = {}
    for entry in dvc["plots"]:
        ((title, spec),) = entry.items()
        plotted[title] = spec
    for name in variations:
        history = f"plots/{name}/history.csv"
        assert plotted[f"{name} accuracy"]["y"] == {history: ["accuracy", "val_accuracy"]}
        assert plotted[f"{name} loss"]["y"] == {history: ["loss", "val_loss"]}
        assert plotted["test accuracy, all variations"]["y"][history] == "val_accuracy"
        assert plotted["test loss, all variations"]["y"][history] == "val_loss"
        assert f"metrics/{name}.json" in dvc["stages"]["compare"]["deps"]
        figures_all = dvc["stages"]["figures_all"]["deps"]
        for source in (history, "metrics/compare.json", "runs"):
            assert source in figures_all, source
    assert "runs" in dvc["stages"]["compare"]["deps"]


def test_every_figure_is_an_image_plot_and_evaluate_feeds_dvc_templates(repo) -> None:
    stages = load(repo)["stages"]
    assert stages["figures_data"]["plots"] == ["plots/class_counts.png", "plots/samples.png"]
    assert stages["figures_all"]["plots"] == ["plots/curves_all.png", "plots/gallery.png"]
    assert stages["figures"]["do"]["plots"] == [
        f"plots/${{key}}/{name}.png" for name in ("curves", "confusion", "roc")
    ]
    (confusion,), (roc,) = (entry.values() for entry in stages["evaluate"]["plots"])
    assert (confusion["template"], confusion["x"], confusion["y"]) == (
        "confusion",
        "actual",
        "predicted",
    )
    assert (roc["template"], roc["x"], roc["y"]) == ("simple", "fpr", "tpr")


def test_runs_are_variation_by_seed_and_track_only_their_own_variation(repo) -> None:
    stages = load(repo)["stages"]
    for name in ("train", "evaluate"):
        assert stages[name]["matrix"] == {"variation": "${variations}", "seed": "${train.seeds}"}
    params = stages["train"]["params"]
    assert "variations.${item.variation}" in params and "variations" not in params
    # Adding a seed must not rerun the runs of the other seeds.
    assert "train" not in params and "train.seeds" not in params
    assert stages["summarize"]["do"]["params"] == ["train.seeds"]


def test_metrics_are_small_uncached_json(repo) -> None:
    stages = load(repo)["stages"]
    assert stages["summarize"]["do"]["metrics"] == [{"metrics/${key}.json": {"cache": False}}]
    run = "runs/${item.variation}/${item.seed}"
    assert stages["evaluate"]["metrics"] == [{f"{run}/test.json": {"cache": False}}]
    assert stages["train"]["metrics"] == [
        {f"{run}/train.json": {"cache": False}},
        {f"{run}/dvclive/metrics.json": {"cache": False}},  # the last epoch's, from dvclive
    ]


def test_validation_comes_before_every_stage_that_params_could_cost(repo) -> None:
    stages = load(repo)["stages"]
    assert "data/validated/data.ok" in stages["download"]["deps"]
    assert set(stages["validate_data"]["params"]) >= {"data", "split", "image"}
    assert "data/validated/${item.variation}.ok" in stages["train"]["deps"]
    validated = {
        p.replace("${key}", "${item.variation}") for p in stages["validate"]["do"]["params"]
    }
    blocks = {p.split(".")[0] if p.startswith("train.") else p for p in stages["train"]["params"]}
    assert blocks <= validated


def _commands(stages) -> dict[str, str]:
    return {name: (stage.get("do") or stage)["cmd"] for name, stage in stages.items()}


def test_every_variation_name_in_a_command_is_single_quoted(repo) -> None:
    for name, cmd in _commands(load(repo)["stages"]).items():
        unquoted = re.sub(r"'[^']*'", "", cmd)
        assert "${" not in unquoted, f"{name}: {cmd}"


def _outputs(stage) -> list[str]:
    listed = [*stage.get("outs", []), *stage.get("metrics", []), *stage.get("plots", [])]
    return [next(iter(entry)) if isinstance(entry, dict) else entry for entry in listed]


def _one_run(path: str) -> str:
    """A templated path as it reads for variation v4 and seed 42."""
    for template, value in (("${key}", "v4"), ("${item.variation}", "v4"), ("${item.seed}", "42")):
        path = path.replace(template, value)
    return path.replace("${train.seeds.0}", "42")


def test_validate_data_runs_before_every_other_stage(repo) -> None:
    """A variation's name reaches a shell only after validate_data, which tracks the names
    (variations), has refused unsafe ones; so do the compare params, and a builds_on cycle
    stops whichever stage is asked for. Every stage must be downstream of it, even with
    the variations gone (compare then has no producer upstream but validate_data)."""
    stages = load(repo)["stages"]
    assert {"variations", "compare"} <= set(stages["validate_data"]["params"])
    producer = {}
    for name, stage in stages.items():
        for out in _outputs(stage.get("do") or stage):
            producer[_one_run(out)] = name

    def upstream(name: str) -> set[str]:
        stage = stages[name].get("do") or stages[name]
        found = set()
        for dep in map(_one_run, stage.get("deps", [])):
            # A folder dep depends on every output inside it.
            for out, parent in producer.items():
                if out == dep or out.startswith(f"{dep}/"):
                    found |= {parent, *upstream(parent)}
        return found

    for name in stages:
        if name != "validate_data":
            assert "validate_data" in upstream(name), name
    assert "data/validated/data.ok" in stages["compare"]["deps"]


def test_every_params_block_a_stage_reads_is_validated_upstream(repo) -> None:
    stages = load(repo)["stages"]
    validated = {*stages["validate_data"]["params"], *stages["validate"]["do"]["params"]}
    for name, stage in stages.items():
        for block in (stage.get("do") or stage).get("params", []):
            top = block.split(".")[0]
            assert top in validated or block in validated, f"{name}: {block}"


def test_history_is_plotted_only_against_epoch(repo) -> None:
    dvc = load(repo)
    train = dvc["stages"]["train"]
    ((history, spec),) = train["plots"][0].items()  # each run's own curves, dvclive's TSVs
    assert history == "runs/${item.variation}/${item.seed}/dvclive/plots/metrics"
    # dvclive's step is the 1-based epoch (stages/training/history.py), titled so.
    assert (spec["template"], spec["x"], spec["x_label"]) == ("epochs", "step", "epoch")
    for entry in dvc["plots"]:
        ((title, spec),) = entry.items()
        assert (spec["template"], spec["x"], spec["x_label"]) == ("epochs", "epoch", "epoch")
        assert spec["y_label"] in title
    template = (repo / ".dvc" / "plots" / "epochs.json").read_text()
    assert '"format": "d"' in template and '"tickMinStep": 1' in template


def test_every_model_is_a_dvc_artifact(repo) -> None:
    artifacts = load(repo)["artifacts"]
    variations = list(load_params(repo / "params.yaml").variations)
    assert sorted(artifacts) == sorted(f"catdog-{name}" for name in variations)
    for name in variations:
        artifact = artifacts[f"catdog-{name}"]
        assert artifact["path"] == f"models/{name}/42.keras"  # the study's seed
        assert artifact["type"] == "model"
        assert artifact["desc"] and name in artifact["labels"]
