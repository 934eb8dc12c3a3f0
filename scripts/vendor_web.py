"""Vendor the web page's third-party libraries from the npm registry into the package.

    .venv/bin/python scripts/vendor_web.py            # the versions pinned below
    .venv/bin/python scripts/vendor_web.py --lightweight-charts 4.2.2 --swagger-ui 5.35.0

Run by a developer to update a library (then commit the result); never at build, run or
test time. Each library lands in `src/trade_engine/web/static/vendor/<name>/` with its
LICENSE/NOTICE and a README naming the version, the npm tarball's integrity and how the
files were made:

- lightweight-charts: the standalone production build (it defines `LightweightCharts`).
- swagger-ui-dist: the bundle and its CSS. The CSS draws a few icons from `data:` URIs,
  which the page's Content-Security-Policy (images from the own origin only) refuses;
  each becomes a file under `img/` and the CSS points at it. Source map comments are
  removed: the maps are not shipped.
"""

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "src/trade_engine/web/static/vendor"
LIGHTWEIGHT_CHARTS = "4.2.2"
SWAGGER_UI = "5.35.0"
EXTENSIONS = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}
# url("...") with CSS escapes inside, or url(...) unquoted; only data: URIs are taken.
DATA_URL = re.compile(r'url\(\s*(?:"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|([^)"\'\s]+))\s*\)')
SOURCE_MAP = re.compile(r"\n?/\*# sourceMappingURL=[^*]*\*/\s*$|\n?//# sourceMappingURL=\S*\s*$")


def npm_pack(spec: str, workdir: Path) -> tuple[Path, dict[str, str]]:
    """The package's files (extracted tarball) and npm's facts about the tarball."""
    output = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    info = json.loads(output)[0]
    target = workdir / info["name"].replace("/", "_")
    with tarfile.open(workdir / info["filename"]) as tarball:
        tarball.extractall(target, filter="data")
    return target / "package", {"version": info["version"], "integrity": info["integrity"]}


def readme(name: str, spec: str, facts: dict[str, str], files: list[str], notes: str) -> str:
    listed = "\n".join(f"- `{file}`" for file in files)
    return f"""# {name} {facts["version"]}

Vendored from the npm registry by `scripts/vendor_web.py` (do not edit by hand):

```sh
npm pack {spec}   # integrity {facts["integrity"]}
```

Files:

{listed}

{notes}

To update: `.venv/bin/python scripts/vendor_web.py --{name.replace("-dist", "")} <version>`, look at
both views and the API docs in a browser (`make screenshots`, `make test`), commit.
"""


def vendor_lightweight_charts(version: str, workdir: Path) -> None:
    spec = f"lightweight-charts@{version}"
    package, facts = npm_pack(spec, workdir)
    target = VENDOR / "lightweight-charts"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    script = "lightweight-charts.standalone.production.js"
    source = (package / "dist" / script).read_text()
    (target / script).write_text(source)
    shutil.copy(package / "LICENSE", target / "LICENSE")
    # The attribution notice: the npm package has no NOTICE file; the build carries the
    # notice as its license banner.
    banner = re.match(r"/\*!(.*?)\*/", source, re.DOTALL)
    if banner is None:
        raise SystemExit(f"{script} has no license banner: write the attribution notice by hand")
    lines = [line.strip(" *").strip() for line in banner.group(1).splitlines()]
    notice = "\n".join(line for line in lines if line and line != "@license")
    (target / "NOTICE").write_text(f"{notice}\nhttps://www.tradingview.com/\n")
    notes = (
        "Licensed under the Apache License 2.0 (`LICENSE`). The package's README asks for the\n"
        "attribution notice (`NOTICE`, taken from the build's license banner) and a link to\n"
        "https://www.tradingview.com/ on the page: both stand beside the chart. The library's own\n"
        "attribution logo (`layout.attributionLogo`) is switched off because it injects an inline\n"
        "`<style>` element, which the page's Content-Security-Policy refuses."
    )
    files = [script, "LICENSE", "NOTICE"]
    (target / "README.md").write_text(readme("lightweight-charts", spec, facts, files, notes))


def _data_file(uri: str, images: Path) -> str:
    header, _, payload = uri[len("data:") :].partition(",")
    mime, *parameters = header.split(";")
    content = base64.b64decode(payload) if "base64" in parameters else urllib.parse.unquote(payload).encode()
    name = f"{hashlib.sha256(content).hexdigest()[:16]}.{EXTENSIONS[mime]}"
    (images / name).write_bytes(content)
    return f"img/{name}"


def localise_css(css: str, images: Path) -> tuple[str, int]:
    """The CSS with every `data:` URL replaced by a file in `images`; how many there were."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        raw = next(group for group in match.groups() if group is not None)
        uri = re.sub(r"\\(.)", r"\1", raw)  # CSS escapes (\" in SVG markup)
        if not uri.startswith("data:"):
            return match.group(0)
        count += 1
        return f"url({_data_file(uri, images)})"

    return DATA_URL.sub(replace, css), count


def vendor_swagger_ui(version: str, workdir: Path) -> None:
    spec = f"swagger-ui-dist@{version}"
    package, facts = npm_pack(spec, workdir)
    target = VENDOR / "swagger-ui"
    shutil.rmtree(target, ignore_errors=True)
    (target / "img").mkdir(parents=True)
    bundle = SOURCE_MAP.sub("\n", (package / "swagger-ui-bundle.js").read_text())
    (target / "swagger-ui-bundle.js").write_text(bundle)
    css, images = localise_css((package / "swagger-ui.css").read_text(), target / "img")
    (target / "swagger-ui.css").write_text(SOURCE_MAP.sub("\n", css))
    for legal in ("LICENSE", "NOTICE"):
        shutil.copy(package / legal, target / legal)
    shutil.copy(package / "swagger-ui-bundle.js.LICENSE.txt", target / "swagger-ui-bundle.js.LICENSE.txt")
    notes = (
        "Licensed under the Apache License 2.0 (`LICENSE`, `NOTICE`; the licenses of what the bundle\n"
        f"includes are in `swagger-ui-bundle.js.LICENSE.txt`). The CSS's {images} `data:` URLs became\n"
        "files under `img/` (the page's Content-Security-Policy allows images from its own origin\n"
        "only); source map comments were removed (the maps are not shipped). The start-up code is\n"
        "the page's own `static/js/docs.js` (no inline script)."
    )
    files = [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "img/*",
        "LICENSE",
        "NOTICE",
        "swagger-ui-bundle.js.LICENSE.txt",
    ]
    (target / "README.md").write_text(readme("swagger-ui-dist", spec, facts, files, notes))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lightweight-charts", default=LIGHTWEIGHT_CHARTS)
    parser.add_argument("--swagger-ui", default=SWAGGER_UI)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        vendor_lightweight_charts(args.lightweight_charts, Path(directory))
        vendor_swagger_ui(args.swagger_ui, Path(directory))


if __name__ == "__main__":
    main()
