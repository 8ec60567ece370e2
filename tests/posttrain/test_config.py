"""The knobs every post-training verb spells the same way, and their old spellings refused."""

from __future__ import annotations

import pytest
import yaml

from curricle.config import parse_config
from curricle.dpo.config import load_dpo_config
from curricle.errors import CurricleError
from curricle.finetune.config import load_finetune_config
from curricle.posttrain.config import RENAMED_KEYS
from curricle.rl.config import load_rl_config

TASKS = [{"name": "rev", "source": {"kind": "builtin", "skill": "reverse"}}]
VERBS = {
    "finetune": (load_finetune_config, {"model": {"path": "m"}, "tasks": TASKS,
                                        "curriculum": {"stages": [{"name": "s", "tasks": {"rev": 1}, "max_steps": 4}]}}),
    "rl": (load_rl_config, {"model": {"path": "m"}, "tasks": TASKS}),
}
DPO = (load_dpo_config, {"model": {"path": "m"}, "pairs": [{"kind": "jsonl", "path": "p.jsonl"}]})
OLD = [("save_every", 10, "train.checkpoint.every"), ("keep_checkpoints", 3, "train.checkpoint.keep_last"),
       ("trace_data", True, "train.trace"), ("trace_prompts", True, "train.trace")]


def load(tmp_path, verb: str, train: dict):
    loader, base = {**VERBS, "dpo": DPO}[verb]
    path = tmp_path / f"{verb}.yaml"
    path.write_text(yaml.safe_dump({**base, "train": train}))
    return loader(path)


def test_every_old_spelling_is_listed():
    assert {f"train.{k}": new for k, _, new in OLD} == RENAMED_KEYS


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("key, value, new", OLD)
def test_an_old_spelling_is_refused_with_one_line_naming_the_new_key(tmp_path, verb, key, value, new):
    with pytest.raises(CurricleError) as exc:
        load(tmp_path, verb, {key: value, "log_every": 1})
    assert str(exc.value) == f"{tmp_path / verb}.yaml: train.{key} was renamed: use {new}"


def test_the_renamed_key_is_named_before_other_errors(tmp_path):
    with pytest.raises(CurricleError) as exc:
        load(tmp_path, "finetune", {"lr": -1, "save_every": 10})
    assert "train.save_every was renamed: use train.checkpoint.every (and 1 more error)" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_the_new_keys_and_their_defaults(tmp_path):
    ft, rl = load(tmp_path, "finetune", {}), load(tmp_path, "rl", {})
    assert (ft.train.checkpoint.every, ft.train.checkpoint.keep_last, ft.train.trace) == (100, 2, False)
    assert (rl.train.checkpoint.every, rl.train.checkpoint.keep_last, rl.train.trace) == (50, 2, False)
    for verb in VERBS:
        cfg = load(tmp_path, verb, {"checkpoint": {"every": 3, "keep_last": None}, "trace": True})
        assert (cfg.train.checkpoint.every, cfg.train.checkpoint.keep_last, cfg.train.trace) == (3, None, True)
    with pytest.raises(CurricleError, match=r"train\.checkpoint\.every: Input should be greater than or equal to 1"):
        load(tmp_path, "rl", {"checkpoint": {"every": 0}})


def pretraining_tf32(value):
    """Pretraining's ``train.tf32`` read from ``value``: the bool, or the error after the field's path."""
    try:
        return parse_config({"sources": [{"kind": "jsonl", "path": "a.jsonl", "domain": "a"}],
                             "train": {"tf32": value}}).train.tf32
    except CurricleError as err:
        return str(err).split("train.tf32: ", 1)[1]


@pytest.mark.parametrize("verb", [*VERBS, "dpo"])
def test_tf32_defaults_on_as_in_pretraining(tmp_path, verb):
    dpo_steps = {"max_steps": 50} if verb == "dpo" else {}
    assert load(tmp_path, verb, dpo_steps).train.tf32 is True
    assert parse_config({"sources": [{"kind": "jsonl", "path": "a.jsonl", "domain": "a"}]}).train.tf32 is True


@pytest.mark.parametrize("verb", [*VERBS, "dpo"])
@pytest.mark.parametrize("value", [True, False, "off", 1, "maybe", 2, None, [True]])
def test_tf32_takes_and_refuses_what_pretraining_does_in_one_line_naming_it(tmp_path, verb, value):
    expected = pretraining_tf32(value)
    train = {"tf32": value, **({"max_steps": 50} if verb == "dpo" else {})}
    if isinstance(expected, bool):
        assert load(tmp_path, verb, train).train.tf32 is expected
        return
    with pytest.raises(CurricleError) as exc:
        load(tmp_path, verb, train)
    assert str(exc.value) == f"{tmp_path / verb}.yaml: train.tf32: {expected}"
