"""The product package holds the product: nothing under plugins/ imports the development package, and the product
images copy and install plugins/ only (built here as the image builds it: a wheel of pyproject.toml + plugins/)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCT_IMAGES = ("airflow.Dockerfile", "collector.Dockerfile")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.match(r"nps_dev\b", node.value):
            names.add(node.value)  # importlib.import_module("nps_dev...") and the like
    return names


def test_no_product_module_imports_the_development_package():
    offenders = {
        str(path.relative_to(REPO)): sorted(n for n in _imported_modules(path) if n.split(".")[0] == "nps_dev")
        for path in (REPO / "plugins").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert not (REPO / "plugins" / "nps_dev").exists()


def test_product_images_copy_no_development_code():
    for name in PRODUCT_IMAGES:
        sources = [line.split()[1:-1] for line in (REPO / "deploy" / name).read_text().splitlines()
                   if line.startswith("COPY")]
        copied = {src for group in sources for src in group if not src.startswith("--")}
        assert copied <= {"requirements.txt", "pyproject.toml", "plugins", "expectations"}, (name, copied)


def test_the_product_wheel_holds_only_the_product(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copytree(REPO / "plugins", src / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "dist"), str(src)], check=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"nps"}
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if re.search(r"fakes|generator|demo\.py|pgserver|envfile", n)]
    assert "nps/collector/app.py" in names and "nps/surveys/sender.py" in names
