import pytest
import yaml

from curricle.errors import CurricleError
from curricle.probes import SuiteConfig, builtin_task_names, builtin_tasks, load_tasks, parse_task, write_tasks
from curricle.probes.task import gen_token_budget
from curricle.synthetic import GENERATORS, make_generator


def test_builtin_suite_has_every_skill_from_heldout_items():
    tasks = builtin_tasks(SuiteConfig(n=20))
    names = [t.name for t in tasks]
    assert names == [*GENERATORS, "code-syntax"]  # no store: no text probes
    assert len(names) >= 12 and {"arithmetic", "arithmetic-hard"} <= set(names)
    by_name = {t.name: t for t in tasks}
    for skill in GENERATORS:
        t = by_name[skill]
        assert len(t.items) == 20
        gen = make_generator(skill)
        assert all(gen.split(i.id) == "heldout" for i in t.items) and not t.in_sample
    assert by_name["reverse+uppercase"].composite_of == ("reverse", "uppercase")
    assert by_name["arithmetic"].output_type == "generate_until"
    assert by_name["agreement"].output_type == "multiple_choice"
    # Fixed seed: the same items, so the same hash, every time.
    assert [t.hash for t in builtin_tasks(SuiteConfig(n=20))] == [t.hash for t in tasks]


def test_builtin_suite_adds_text_probes_from_the_store(probe_run):
    _, data_dir = probe_run
    tasks = builtin_tasks(SuiteConfig(n=5, text_passages=4), data_dir=data_dir)
    text = {t.name: t for t in tasks if t.output_type == "loglikelihood_rolling"}
    assert list(text) == ["prose-loss"]  # the store has no code domain
    assert 1 <= len(text["prose-loss"].items) <= 4
    assert all(i.prompt == "" and len(i.target) <= 400 for i in text["prose-loss"].items)
    assert "code-loss" in builtin_task_names()


def test_suite_subset_and_unknown_task():
    assert [t.name for t in builtin_tasks(SuiteConfig(n=3, tasks=["copy", "brackets"]))] == ["copy", "brackets"]
    with pytest.raises(CurricleError, match="unknown built-in task 'nope'"):
        builtin_tasks(SuiteConfig(tasks=["nope"]))


def test_task_file_with_inline_and_jsonl_items(tmp_path):
    (tmp_path / "items.jsonl").write_text('{"prompt": "1+1=", "target": "2", "distractors": ["3"]}\n'
                                          '{"id": "b", "prompt": "2+2=", "target": "4", "distractors": ["5"]}\n')
    (tmp_path / "tasks.yaml").write_text(yaml.safe_dump({"tasks": [
        {"task": "sums", "output_type": "multiple_choice", "dataset": {"kind": "jsonl", "path": "items.jsonl"}},
        {"task": "hello", "output_type": "generate_until", "generation": {"until": ["\n", "."]},
         "items": [{"prompt": "say hi:", "target": " hi"}]},
    ]}))
    sums, hello = load_tasks(tmp_path / "tasks.yaml")
    assert [i.id for i in sums.items] == ["1", "b"] and sums.items[1].choices == ("4", "5")
    assert hello.until == ("\n", ".") and hello.gen_tokens == len(" hi") + 2
    # Written back with items inline, the tasks load to the same hashes.
    write_tasks([sums, hello], tmp_path / "out.yaml")
    assert [t.hash for t in load_tasks(tmp_path / "out.yaml")] == [sums.hash, hello.hash]


@pytest.mark.parametrize("data, message", [
    (b'{"prompt": "a", "target": " b"}\n\n[1, 2]\n', r"items.jsonl:3: expected a mapping .* got list$"),
    (b'{"prompt": "a", "target": " b"}\n{"prompt": "a\xff", "target": " b"}\n', r"items.jsonl:2: not valid UTF-8$"),
    (b'{"prompt": "a\xe2\x80\xa8b", "target": " c"}\n{"prompt": \n', r"items.jsonl:2: not valid JSON \("),
])
def test_a_bad_items_line_is_one_line_naming_file_and_line(tmp_path, data, message):
    # (U+2028 inside a JSON string does not end line 1, as str.splitlines would have it.)
    (tmp_path / "items.jsonl").write_bytes(data)
    task = {"task": "t", "output_type": "loglikelihood", "dataset": {"kind": "jsonl", "path": "items.jsonl"}}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(task))
    with pytest.raises(CurricleError, match=message):
        load_tasks(tmp_path / "t.yaml")


def test_a_task_file_of_bad_utf8_is_one_line_naming_file_and_line(tmp_path):
    (tmp_path / "t.yaml").write_bytes(b"task: t\noutput_type: loglikelihood\nitems: [{prompt: \"a\xff\", target: b}]\n")
    with pytest.raises(CurricleError, match=r"t.yaml:3: not valid UTF-8$"):
        load_tasks(tmp_path / "t.yaml")


def test_the_default_generation_budget_is_the_longest_targets_utf8_bytes_plus_2():
    # " 東京" is 3 characters but 7 bytes, 7 tokens of a byte-level tokenizer without merges.
    task = parse_task({"task": "t", "output_type": "generate_until",
                       "items": [{"prompt": "capital:", "target": " \u6771\u4eac"}, {"prompt": "a", "target": " hi"}]},
                      "t")
    assert task.gen_tokens == 9 and gen_token_budget([" hi", "x"]) == 5


def test_hash_covers_items_not_names():
    base = {"output_type": "multiple_choice", "items": [{"prompt": "a", "target": "b", "distractors": ["c"]}]}
    a = parse_task({"task": "a", **base}, "t")
    b = parse_task({"task": "b", "skill": "other", "chance": 0.3, **base}, "t")
    c = parse_task({**base, "task": "a", "items": [{"prompt": "a", "target": "b", "distractors": ["d"]}]}, "t")
    assert a.hash == b.hash != c.hash


@pytest.mark.parametrize("data, message", [
    ({"task": "t", "output_type": "multiple_choice"}, "exactly one of 'dataset' or 'items'"),
    ({"task": "t", "output_type": "multiple_choice", "items": [{"prompt": "a", "target": "b"}]}, "need distractors"),
    ({"task": "t", "output_type": "bogus", "items": []}, "output_type"),
    ({"task": "t", "output_type": "loglikelihood", "items": [], "extra": 1}, "extra: unknown key"),
    ({"task": "t", "output_type": "multiple_choice",
      "dataset": {"kind": "generator", "skill": "nope"}}, "unknown skill 'nope'"),
    ({"task": "t", "output_type": "loglikelihood_rolling", "items": [{"prompt": "x", "target": "y"}]},
     "empty prompt"),
])
def test_bad_tasks_fail_with_the_field(data, message):
    with pytest.raises(CurricleError, match=message):
        parse_task(data, "tasks.yaml")


def test_a_datasets_field_is_named_without_its_kind():
    with pytest.raises(CurricleError) as err:
        parse_task({"task": "t", "output_type": "generate_until", "dataset": {"kind": "generator", "skil": "copy"}},
                   "tasks.yaml")
    assert str(err.value) == "tasks.yaml: dataset.skill: Field required"


def test_levels_make_one_task_per_ladder_level():
    suite = SuiteConfig(n=10, tasks=["copy", "reverse+uppercase", "compose"],
                        levels={"copy": [2, 8], "reverse+uppercase": ["3"], "compose": "all"})
    tasks = builtin_tasks(suite)
    assert [t.name for t in tasks] == ["copy@2", "copy@8", "reverse+uppercase@3", "compose@1", "compose@2",
                                       "compose@3"]
    copy8 = tasks[1]
    assert (copy8.skill, copy8.family, copy8.level, copy8.level_index) == ("copy@8", "copy", "8", 2)
    assert copy8.output_type == "generate_until" and not copy8.in_sample
    assert all(len(i.target.split()) == 8 for i in copy8.items)  # copy@8 repeats 8 words
    assert tasks[2].composite_of == ("reverse@3", "uppercase@3")
    assert tasks[4].composite_of == ("compose@1",) and tasks[3].composite_of == ()
    gen = make_generator("copy", level="8")
    assert all(gen.split(i.id) == "heldout" for i in copy8.items)
    # Written out and read back, the level survives.
    assert parse_task(copy8.config_dict(), "t").level == "8"


def test_a_level_too_small_to_hold_items_out_is_in_sample(caplog):
    tasks = builtin_tasks(SuiteConfig(n=50, tasks=["arithmetic", "facts"], levels={"arithmetic": ["1", "2c0"],
                                                                                    "facts": ["20"]}))
    facts, one, two = tasks
    # One-digit sums: 100 items, 15 held out, fewer than min_heldout (20): drawn from all 100.
    assert one.in_sample and len(one.items) == 50 and not two.in_sample and len(two.items) == 50
    assert "item space holds only 15 held-out items" in caplog.text and "in-sample" in caplog.text
    gen = make_generator("arithmetic", level="1")
    assert sum(gen.split(i.id) == "heldout" for i in one.items) == 15
    # facts@20: 140 questions, 28 held out: fewer than asked for, enough to stay out of sample.
    assert not facts.in_sample and len(facts.items) == 28
    assert "only 28 held-out items, not 50" in caplog.text


@pytest.mark.parametrize("levels, message", [
    ({"copy": ["3"]}, r"copy: unknown level '3' \(levels: 2, 4, 8, 16\)"),
    ({"arithmetic-hard": "all"}, "has no difficulty levels"),
    ({"nope": "all"}, "unknown skill 'nope'"),
])
def test_bad_suite_levels(levels, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        SuiteConfig(levels=levels)


def test_task_file_family_and_level():
    base = {"output_type": "multiple_choice", "items": [{"prompt": "a", "target": "b", "distractors": ["c"]}]}
    named = parse_task({"task": "sums@3", **base}, "t")
    assert (named.skill, named.family, named.level, named.level_index, named.in_sample) == (
        "sums@3", "sums", "3", None, False)
    plain = parse_task({"task": "sums", **base}, "t")
    assert (plain.family, plain.level) == ("sums", None)
    told = parse_task({"task": "x", "family": "f", "level": "hard", "in_sample": True, **base}, "t")
    assert (told.family, told.level, told.in_sample) == ("f", "hard", True)
    assert told.hash == plain.hash  # none of them changes what is scored
    assert parse_task(told.config_dict(), "t").in_sample
