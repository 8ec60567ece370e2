"""``curricle curate CONFIG``: curate the run's sources and print the funnel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from curricle.errors import CurricleError

if TYPE_CHECKING:
    from curricle.config import RunConfig
    from curricle.curate.config import CurateConfig
    from curricle.curate.funnel import FunnelReport


def _one_line(err: ValidationError, prefix: str) -> str:
    first = err.errors()[0]
    loc = ".".join([prefix, *(str(p) for p in first["loc"])])
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    more = len(err.errors()) - 1
    return f"{loc}: {msg}" + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


def load_configs(config_path: Path | str) -> tuple["RunConfig", "CurateConfig"]:
    """The run config and its ``curate:`` block (defaults when the block is absent)."""
    from curricle.config import RunConfig, load_config, parse_config
    from curricle.curate.config import CurateConfig

    path = Path(config_path)
    if "curate" in RunConfig.model_fields:  # RunConfig knows the block: validate it there
        run = load_config(path)
        return run, getattr(run, "curate", None) or CurateConfig()
    if not path.is_file():
        raise CurricleError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise CurricleError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', err)})") from None
    except UnicodeDecodeError as err:
        raise CurricleError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    if not isinstance(data, dict):
        raise CurricleError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    block: Any = data.pop("curate", None) or {}
    run = parse_config(data, str(path))
    if not isinstance(block, dict):
        raise CurricleError(f"{path}: curate: expected a mapping of settings, got {type(block).__name__}")
    try:
        return run, CurateConfig.model_validate(block)
    except ValidationError as err:
        raise CurricleError(f"{path}: {_one_line(err, 'curate')}") from None


def curate_command(config_path: Path | str, executor: str | None = None) -> "FunnelReport":
    """Load ``config_path``, curate its sources (``executor``: ``local`` / ``ray`` overrides
    ``curate.executor``), print the funnel table, and return the report."""
    from rich.console import Console

    from curricle.curate import curate
    from curricle.curate.funnel import print_funnel

    run, cfg = load_configs(config_path)
    report = curate(run, cfg, executor=executor)
    print_funnel(report, Console())
    return report
