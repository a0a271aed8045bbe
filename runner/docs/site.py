"""Write the documentation site under `<target>/docs/`: the page, its script and style (package
data in `static/`), and `data.js` with the project's catalog. It opens from the file system."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from runner.chart_check import load_dashboards
from runner.compile import CompiledProject
from runner.docs.catalog import build_catalog, project_lineage, to_js
from runner.paths import prepare_write

STATIC_FILES = ("index.html", "app.js", "style.css")


def generate_site(cp: CompiledProject) -> Path:
    """Write the site of a compiled project; returns the path of its `index.html`."""
    catalog = build_catalog(cp, project_lineage(cp), load_dashboards(cp.project, cp.target))
    out = cp.project.target_layout.docs
    static = resources.files("runner.docs") / "static"
    for name in STATIC_FILES:
        text = (static / name).read_text(encoding="utf-8")
        prepare_write(out / name, cp.project.target_dir).write_text(text, encoding="utf-8")
    prepare_write(out / "data.js", cp.project.target_dir).write_text(
        to_js(catalog), encoding="utf-8")
    return out / "index.html"
