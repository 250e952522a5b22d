#!/usr/bin/env bash
# Rebuild offline.html: vega, vega-lite and vega-embed from the npm registry, inlined into
# the page template `dvc plots show` fills (DVC replaces {plot_divs} and {refresh_tag};
# the template has no {scripts}, so DVC adds no CDN <script src> tags).
# Usage: vendor/vega/update.sh [vega version] [vega-lite version] [vega-embed version]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
versions=("vega@${1:-5.33.1}" "vega-lite@${2:-5.23.0}" "vega-embed@${3:-6.29.0}")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "${versions[@]}" >/dev/null
for tarball in *.tgz; do
  mkdir "${tarball%.tgz}" && tar -xzf "$tarball" -C "${tarball%.tgz}"
done
python3 - "$here/offline.html" "${versions[@]}" <<'PY'
import sys
from pathlib import Path

out, *versions = sys.argv[1:]
scripts = []
for spec in versions:
    name, version = spec.rsplit("@", 1)
    code = Path(f"{name}-{version}/package/build/{name}.min.js").read_text(encoding="utf-8")
    assert "</script" not in code and "{plot_divs}" not in code and "{scripts}" not in code
    scripts.append(
        f"    <!-- {name} {version} from the npm registry; BSD-3-Clause, "
        f"see vendor/vega/LICENSE-{name} -->\n    <script>{code}</script>"
    )
page = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
%s
    <style>
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
""" % "\n".join(scripts)
Path(out).write_text(page, encoding="utf-8")
PY
echo "wrote $here/offline.html (${versions[*]})"
