"""The repository's folders install under `nnsim` and nothing is left out of the wheel."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_source_package_is_listed_for_installation():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folder_of = setuptools["package-dir"]
    on_disk = set()
    for package, folder in folder_of.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            on_disk.add(".".join([package, *relative.parts]))
    assert on_disk <= set(setuptools["packages"])
    assert not any(p.split(".")[0] != "nnsim" for p in setuptools["packages"])


def test_no_folder_of_the_checkout_shadows_the_installed_package():
    """`python -m pytest` from the root puts the root on sys.path: a `nnsim/` folder there
    would be imported instead of the installed package."""
    assert not (ROOT / "nnsim").exists()
