"""Each augmenter on literal input, with its exact output (seeded), provenance and drops."""

import json
import random

import pytest

from curricle.augment.base import Augmented, ProtectedItems, Target, protected_items
from curricle.augment.config import (
    AUGMENTERS,
    FunctionAugmenterConfig,
    GeneratorAugmenterConfig,
    ParaphraseConfig,
    PerturbConfig,
)
from curricle.augment.perturb import perturb
from curricle.errors import CurricleError
from curricle.synthetic import make_generator

TEXT = "The cat sat on the mat. It was warm!\nA dog barked at night.\n"


@pytest.fixture(scope="module")
def protect():
    return protected_items()


def test_each_perturbation_on_literal_text():
    def one(op):
        return perturb(TEXT, [op], random.Random(1), spans=2, span_words=3, shuffle_share=1.0, noise_rate=0.1)

    # Two spans: "the" (line 1) and "A" (line 2); the line breaks stay.
    assert one("delete-span") == "The cat sat on mat. It was warm!\ndog barked at night.\n"
    # Every sentence's words shuffled within it; the sentences and lines stay in place.
    assert one("shuffle-words") == "on the cat mat. sat The warm! It was\nbarked night. dog at A\n"
    # About one character in ten replaced by another of the document's characters.
    assert one("char-noise") == "The cat sa! on the mat. Ir ias warm!\nA dog barked at night.\n"


def test_a_span_that_is_a_whole_line_leaves_no_blank_line():
    text = "1+1=2\n2+2=4\n3+3=6\n"
    outs = {perturb(text, ["delete-span"], random.Random(s), span_words=1) for s in range(20)}
    assert outs == {"2+2=4\n3+3=6\n", "1+1=2\n3+3=6\n", "1+1=2\n2+2=4\n"}


def test_perturb_augmenter_is_seeded_and_stamps_provenance():
    a = AUGMENTERS.build(PerturbConfig(ops=["delete-span", "shuffle-words"]))
    kept, dropped = a.run(Target("prose", "prose-7", text=TEXT), 2, seed=11)
    assert [d.text for d in kept] == ["the mat. cat The sat on was It warm!\nA night. dog\n",
                                      "the sat mat. on cat It was warm!\nA dog barked at night.\n"]
    assert [(d.augmented_from, d.augmenter) for d in kept] == [("prose-7", "perturb")] * 2
    params = json.loads(kept[0].params)
    assert params["ops"] == ["delete-span", "shuffle-words"] and params["spans"] == 1 and isinstance(params["seed"], int)
    again, _ = a.run(Target("prose", "prose-7", text=TEXT), 2, seed=11)
    assert again == kept and not dropped


def test_a_perturbation_that_changes_nothing_is_counted_not_kept():
    a = AUGMENTERS.build(PerturbConfig(ops=["shuffle-words"], shuffle_share=1.0))
    kept, dropped = a.run(Target("d", "d-0", text="single\n"), 3, seed=0)
    assert kept == [] and dropped == {"unchanged": 3}


def test_generator_makes_new_train_items_at_the_level(protect):
    a = AUGMENTERS.build(GeneratorAugmenterConfig(items_per_doc=3), protect)
    kept, dropped = a.run(Target("arith", "arithmetic@2c1", skill="arithmetic", level="2c1"), 2, seed=5)
    assert [d.text for d in kept] == ["84+62=146\n31+59=90\n72+94=166\n", "33+59=92\n76+73=149\n91+16=107\n"]
    assert json.loads(kept[1].params) == {"doc": 1, "items_per_doc": 3, "level": "2c1", "seed": 5, "skill": "arithmetic"}
    assert kept[0].augmented_from == "arithmetic@2c1" and not dropped


@pytest.mark.parametrize("skill,level", [("arithmetic", "2c1"), ("copy", "4"), ("reverse", "3"), ("facts", "20")])
def test_generator_never_makes_a_held_out_probe_item(skill, level, protect):
    a = AUGMENTERS.build(GeneratorAugmenterConfig(items_per_doc=16), protect)
    kept, dropped = a.run(Target("d", f"{skill}@{level}", skill=skill, level=level), 10, seed=3)
    gen = make_generator(skill, 0, level=level)
    heldout = {i.text for i in gen.items("heldout", 64, at_most=True)}
    lines = [line + "\n" for d in kept for line in d.text.splitlines()]
    assert len(kept) + sum(dropped.values()) == 10 and "probe-item" not in dropped
    assert lines and not heldout & set(lines)
    assert all(protect.find(d.text) is None for d in kept)


def test_generator_needs_a_skill():
    a = AUGMENTERS.build(GeneratorAugmenterConfig())
    with pytest.raises(CurricleError, match="domain 'prose' has no synthetic source"):
        a.run(Target("prose", "prose-1", text="x"), 1, seed=0)


def test_function_augmenter_calls_module_function_with_args():
    a = AUGMENTERS.build(FunctionAugmenterConfig(function="tests.augment.fns:shout", args={"suffix": "?"}))
    kept, dropped = a.run(Target("d", "d-3", text="hi there"), 2, seed=9)
    assert [d.text for d in kept] == ["HI THERE?", "HI THERE??"]
    assert [json.loads(d.params) for d in kept] == [
        {"function": "tests.augment.fns:shout", "seed": 9, "copy": 0},
        {"function": "tests.augment.fns:shout", "seed": 9, "copy": 1}]
    assert all(d.augmented_from == "d-3" and d.augmenter == "function" for d in kept)


def test_a_document_holding_a_protected_probe_item_is_dropped(protect):
    a = AUGMENTERS.build(FunctionAugmenterConfig(function="tests.augment.fns:leak"), protect)
    kept, dropped = a.run(Target("d", "d-0", text="x"), 2, seed=0)
    assert [d.text for d in kept] == ["1+1=2\n"] and dropped == {"probe-item": 1}


def test_protected_items_match_whole_items_only():
    p = ProtectedItems({"probe:arithmetic": ["5+4=9"]})
    assert p.find("a\n5+4=9\n") == "probe:arithmetic"
    assert p.find("95+4=99") is None


def test_a_bad_function_is_a_one_line_error():
    with pytest.raises(CurricleError, match="cannot import 'tests.augment.fns:nope'"):
        AUGMENTERS.build(FunctionAugmenterConfig(function="tests.augment.fns:nope"))


@pytest.fixture(scope="module")
def tiny_checkpoint(prepared_dir, tmp_path_factory):
    """A 2-layer Llama (d=32) with the prepared store's tokenizer, saved as an HF checkpoint."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from curricle.store import TokenStore

    tok = TokenStore(prepared_dir).load_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
                                         max_position_embeddings=256, eos_token_id=tok.eos_token_id))
    path = tmp_path_factory.mktemp("para") / "ckpt"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_paraphrase_samples_from_the_checkpoint_reproducibly(tiny_checkpoint):
    cfg = ParaphraseConfig(checkpoint=tiny_checkpoint, prompt="{text}\n", max_new_tokens=12, min_ratio=0.0,
                           max_ratio=100.0, max_loss=100.0)
    a = AUGMENTERS.build(cfg)
    target = Target("arith", "arithmetic-0-1", text="12+30=42\n7+5=12\n")
    kept, dropped = a.run(target, 2, seed=4)
    again, _ = AUGMENTERS.build(cfg).run(target, 2, seed=4)
    assert [d.text for d in kept] == [d.text for d in again] and len(kept) == 2 and not dropped
    assert kept[0].text != kept[1].text  # each document its own seed
    params = json.loads(kept[0].params)
    assert params["checkpoint"] == str(tiny_checkpoint) and params["try"] == 0 and params["loss"] > 0


def test_paraphrase_filters_count_every_rejection(tiny_checkpoint):
    def run(**kw):
        cfg = ParaphraseConfig(checkpoint=tiny_checkpoint, prompt="{text}\n", max_new_tokens=12, tries=3, **kw)
        return AUGMENTERS.build(cfg).run(Target("a", "a-0", text="12+30=42\n7+5=12\n"), 2, seed=4)

    kept, dropped = run(min_ratio=50.0, max_ratio=100.0)  # nothing that long
    assert kept == [] and dropped == {"too-short": 6}
    kept, dropped = run(min_ratio=0.0, max_ratio=100.0, max_loss=0.01)  # a random model is not that fluent
    assert kept == [] and dropped == {"high-loss": 6}


def test_augmented_is_what_an_augmenter_returns():
    assert Augmented("x").params == {}
