"""``extras.require``: an optional package, or one line naming the extra that provides it."""

import ast
import sys
from pathlib import Path

import pytest

from curricle import extras
from curricle.errors import CurricleError
from curricle.extras import LAZY_IMPORTS, provider, require

SRC = Path(__file__).resolve().parents[1] / "src" / "curricle"


def test_a_present_module_is_returned():
    import xxhash

    assert require("xxhash", "curricle curate") is xxhash
    assert require("pydoc_data", "the python-prose source").__name__ == "pydoc_data"


def test_a_missing_module_is_one_line_naming_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # makes importing it raise ModuleNotFoundError
    with pytest.raises(CurricleError) as e:
        require("lightgbm", "mix_search.regressor lightgbm")
    assert str(e.value) == "mix_search.regressor lightgbm needs the 'lightgbm' package: pip install 'curricle[search]'"
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(CurricleError) as e:
        require("wandb", "telemetry.wandb")
    assert str(e.value) == "telemetry.wandb needs the 'wandb' package: pip install wandb"


def test_a_missing_package_under_a_listed_one_names_the_listed_ones_extra(tmp_path, monkeypatch):
    (tmp_path / "fake_extra_pkg").mkdir()
    (tmp_path / "fake_extra_pkg" / "__init__.py").write_text("import fake_extra_dependency_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(LAZY_IMPORTS, "fake_extra_pkg", "curricle[fake]")
    with pytest.raises(CurricleError) as e:
        require("fake_extra_pkg", "the fake verb")
    assert str(e.value) == ("the fake verb needs the 'fake_extra_dependency_not_installed' package: "
                            "pip install 'curricle[fake]'")


def test_only_listed_modules_are_required():
    with pytest.raises(ValueError, match="LAZY_IMPORTS"):
        require("json", "anything")


def test_the_provider_is_the_longest_listed_prefix():
    assert provider("datatrove.pipeline.filters") == "curricle[curate]"
    assert provider("torch.utils.tensorboard") == "tensorboard"
    assert provider("curricle.rl.hf") == "curricle[posttrain]"
    assert provider("torch") is None and provider("datatrovex") is None
    assert extras._install("curricle[hf]") == "pip install 'curricle[hf]'" and extras._install("mlflow") == \
        "pip install mlflow"


def test_no_error_message_outside_extras_says_pip_install():
    """What to install is said by ``require`` alone, from ``LAZY_IMPORTS``."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "extras.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CurricleError":
                text = ast.unparse(node)
                if "pip install" in text:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []
