"""Building a model: a from-scratch preset with its overrides, or a local HF checkpoint whose
weights file may be corrupt."""

from __future__ import annotations

import pytest
from transformers import LlamaConfig, LlamaForCausalLM

from curricle.errors import CurricleError
from curricle.model.build import build_model, load_weights
from curricle.model.config import ModelConfig


def test_overrides_set_llama_fields_and_those_it_converts():
    model = build_model(ModelConfig(preset="micro", max_position_embeddings=64,
                                    overrides={"num_hidden_layers": 1, "rope_theta": 500000.0}), 40, 0)
    assert model.config.num_hidden_layers == 1 and model.config.rope_parameters["rope_theta"] == 500000.0


@pytest.mark.parametrize("overrides, error", [
    ({"num_hidden_layer": 1}, "model.overrides.num_hidden_layer: LlamaConfig has no such field (did you mean "
                              "num_hidden_layers?)"),
    ({"hidden_size": 64, "zzz": 1}, "model.overrides.zzz: LlamaConfig has no such field"),
])
def test_a_misspelled_override_is_one_line_naming_it(overrides, error):
    with pytest.raises(CurricleError) as err:
        build_model(ModelConfig(preset="micro", max_position_embeddings=64, overrides=overrides), 40, 0)
    assert str(err.value) == error


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "ck"
    LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64, tie_word_embeddings=True)).save_pretrained(path)
    return path


def test_a_corrupt_weights_file_is_one_line_naming_model_path(checkpoint):
    weights = checkpoint / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])  # a copy cut short
    with pytest.raises(CurricleError) as err:
        build_model(ModelConfig(path=checkpoint), 40, 0)
    assert str(err.value) == (f"model.path: cannot load a causal LM from {checkpoint}: Error while deserializing "
                              f"header: incomplete metadata, file not fully covered")
    model = build_model(ModelConfig(preset="micro", max_position_embeddings=64), 40, 0)
    weights.write_bytes(b"")
    with pytest.raises(CurricleError) as err:
        load_weights(model, checkpoint)
    assert str(err.value) == f"{weights}: cannot read the weights (Error while deserializing header: header too small)"
