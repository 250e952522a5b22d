"""Render the plots that differ between revisions, for a pull request's report.

Reads `dvc plots diff <base> --json` (DVC's filled-in Vega-Lite specs), writes one PNG
per plot whose data differ between the revisions (vl-convert, Vega-Lite's own
renderer), and prints Markdown that shows them.

    dvc plots diff ci-base --json > plots.json
    python .ci/changed_plots.py plots.json --out plots-png >> report.md
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any


def changed(spec: dict[str, Any]) -> bool:
    """Whether the plot's data differ between its revisions (or it has only one)."""
    by_revision: dict[str, list[str]] = {}
    for row in spec.get("data", {}).get("values", []):
        values = {key: value for key, value in row.items() if key != "rev"}
        by_revision.setdefault(row.get("rev", ""), []).append(json.dumps(values, sort_keys=True))
    series = [sorted(rows) for rows in by_revision.values()]
    return len(series) != 2 or series[0] != series[1]


def changed_specs(plots: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{plot title: Vega-Lite spec} of the plots whose data changed."""
    found = {}
    for title, renders in plots.get("data", {}).items():
        for render in renders:
            if render.get("type") == "vega" and changed(render["content"]):
                found[title] = render["content"]
    return found


def file_name(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") + ".png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plots", type=Path, help="the output of dvc plots diff --json")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    arguments = parser.parse_args()
    specs = changed_specs(json.loads(arguments.plots.read_text()))
    if not specs:
        print("No plot changed.")
        return
    import vl_convert

    arguments.out.mkdir(parents=True, exist_ok=True)
    for title, spec in specs.items():
        png = arguments.out / file_name(title)
        png.write_bytes(vl_convert.vegalite_to_png(spec))
        print(f"![{title}]({png.as_posix()})")


if __name__ == "__main__":
    main()
