"""``curricle demo``: the pipeline end to end on built-in sources, offline.

Stages so far: prepare (tokenizer + token store), then a preview of the curriculum's
mixture. Each stage's files land under ``--out`` so they can be inspected or rerun alone.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from curricle.config import RunConfig, parse_config


def demo_config(out: Path) -> RunConfig:
    """The shipped demo config with its data directory under ``out``."""
    text = resources.files("curricle").joinpath("configs/demo.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["data_dir"] = str(Path(out) / "data")
    return parse_config(data, "curricle/configs/demo.yaml")


def run_demo(out: Path, preview_steps: int = 400) -> dict:
    from rich.console import Console

    from curricle.prepare import prepare, print_report
    from curricle.preview import preview_mixture, print_preview

    console = Console()
    config = demo_config(out)
    console.rule("[bold]1/2 prepare: built-in sources -> tokenizer + token store")
    report = prepare(config)
    print_report(report, console)
    console.rule(f"[bold]2/2 sample: {preview_steps} steps of the phased curriculum")
    result = preview_mixture(config, preview_steps)
    print_preview(result, show=1, console=console)
    console.rule("[bold]done")
    console.print(f"token store and tokenizer: {config.data_dir}")
    console.print("the demo config: src/curricle/configs/demo.yaml; rerun a stage with "
                  "'curricle prepare CONFIG' or 'curricle sample CONFIG'")
    return {"prepare": report, "preview": result}
