"""Apply reproduce.yml's workflow_dispatch inputs to params.yaml (every job the same way,
so that DVC finds what an earlier job pushed). Empty inputs keep the committed values."""

from __future__ import annotations

import os

from ruamel.yaml import YAML

from stages.core.config import load_params

yaml = YAML()
with open("params.yaml") as handle:
    params = yaml.load(handle)
if source := os.environ.get("SOURCE", "").strip():
    params["data"]["source"] = source
if seeds := os.environ.get("SEEDS", "").strip():
    params["train"]["seeds"] = [int(seed) for seed in seeds.split(",")]
if chosen := [name.strip() for name in os.environ.get("VARIATIONS", "").split(",") if name.strip()]:
    for name in [name for name in params["variations"] if name not in chosen]:
        del params["variations"][name]
if epochs := os.environ.get("EPOCHS", "").strip():
    for variation in params["variations"].values():
        variation["epochs"] = int(epochs)
with open("params.yaml", "w") as handle:
    yaml.dump(params, handle)
load_params()  # one clear line, naming the key, if the inputs made the params invalid
