"""Tasks: built-in items at difficulty levels, files with your field names, splits that never
leak into training, and bad records counted under their reasons."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from pydantic import TypeAdapter

from curricle.errors import CurricleError
from curricle.tasks.config import TaskConfig
from curricle.tasks.items import normalized, split_by_hash
from curricle.tasks.load import build_tasks, write_quarantine


def tasks(*configs, tokenizer=None):
    return build_tasks([TaskConfig.model_validate(c) for c in configs], tokenizer)


def test_builtin_levels_difficulty_and_disjoint_splits():
    (t,) = tasks({"name": "add", "source": {"kind": "builtin", "skill": "arithmetic", "n_train": 300, "n_heldout": 30,
                                            "n_test": 30, "levels": [{"digits": 1}, {"digits": 2}, {"digits": 3}]}})
    # 1-digit sums have 15 distinct held-out items, not the 20 asked: level 0 shares them 8 held-out, 7 test.
    assert len(t.heldout) == 28 and len(t.test) == 27
    assert [sum(i.meta["level"] == lv for i in t.heldout) for lv in range(3)] == [8, 10, 10]
    assert [sum(i.meta["level"] == lv for i in t.test) for lv in range(3)] == [7, 10, 10]
    # ... and 85 train items, all of them (the space has 100 sums); the other levels their 100 each.
    assert [sum(i.meta["level"] == lv for i in t.train) for lv in range(3)] == [85, 100, 100]
    by_level = {lv: [i for i in t.train if i.meta["level"] == lv] for lv in range(3)}
    assert all(by_level[lv] for lv in range(3))
    # Difficulty: the level first, then digits + carries within it.
    assert max(i.difficulty for i in by_level[0]) < min(i.difficulty for i in by_level[1])
    assert max(i.difficulty for i in by_level[1]) < min(i.difficulty for i in by_level[2])
    three = {i.prompt: i.difficulty for i in by_level[2]}
    easy, hard = min(three, key=three.get), max(three, key=three.get)
    assert three[easy] < three[hard]
    prompts = {normalized(i.prompt) for i in t.train}
    assert not prompts & {normalized(i.prompt) for i in t.heldout + t.test}
    assert not {i.id for i in t.heldout} & {i.id for i in t.test}
    assert all(i.completion == str(eval(i.prompt.rstrip("="))) for i in t.train[:50])


def test_a_small_held_out_space_is_shared_in_the_asked_proportion(caplog):
    (t,) = tasks({"name": "add1", "source": {"kind": "builtin", "skill": "arithmetic", "params": {"digits": 1},
                                             "n_train": 2000, "n_heldout": 32, "n_test": 64}})
    assert (len(t.train), len(t.heldout), len(t.test)) == (85, 5, 10)
    assert "15 distinct held-out items, not 96: 5 held-out, 10 test" in caplog.text


def test_transform_difficulty_is_length_times_depth():
    (single, comp) = tasks(
        {"name": "rev", "source": {"kind": "builtin", "skill": "reverse", "n_train": 20, "n_heldout": 4}},
        {"name": "ru", "source": {"kind": "builtin", "skill": "reverse+uppercase", "n_train": 20, "n_heldout": 4}})
    for i in single.train:
        assert i.difficulty == len(i.prompt.split()[1])
    for i in comp.train:
        assert i.difficulty == 2 * len(i.prompt.split()[1])


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_jsonl_fields_levels_split_field_and_skipped_records(tmp_path):
    records = [{"uid": f"q{i}", "question": f"What is {i}+1?", "answer": str(i + 1), "level": ["easy", "hard"][i % 2],
                "part": "heldout" if i < 4 else "train"} for i in range(20)]
    records += [{"uid": "q3", "question": "dup", "answer": "x", "part": "train"},  # a repeated id
                {"uid": "n1", "question": "no answer", "part": "train"},
                {"uid": "n2", "question": "bad level", "answer": "1", "level": "medium", "part": "train"},
                {"uid": "n3", "question": "bad split", "answer": "1", "part": "dev"},
                "not json", "[1, 2]"]
    path = write_jsonl(tmp_path / "t.jsonl", records)
    (t,) = tasks({"name": "qa", "source": {"kind": "jsonl", "path": str(path), "id_field": "uid",
                                           "prompt_field": "question", "completion_field": "answer",
                                           "difficulty_field": "level", "levels": ["easy", "hard"],
                                           "split_field": "part"}})
    assert [i.id for i in t.heldout] == ["q0", "q1", "q2", "q3"] and len(t.train) == 16 and t.test == []
    assert {i.id: i.difficulty for i in t.train}["q5"] == 1.0 and t.train[0].meta == {}
    reasons = sorted(r for _, r in t.skipped)
    assert reasons == sorted(["repeated id 'q3'", "no 'answer' string", "level: not a number or one of "
                              "['easy', 'hard']", "part: not one of train, heldout, test", "not valid JSON",
                              "not a JSON object"])
    assert [w for w, r in t.skipped if r == "not valid JSON"] == [f"{path}:25"]
    n = write_quarantine([t], tmp_path / "q.jsonl")
    assert n == 6 and json.loads((tmp_path / "q.jsonl").read_text().splitlines()[0])["task"] == "qa"


def test_a_line_of_invalid_utf8_is_skipped_counted_and_quarantined(tmp_path):
    path = tmp_path / "t.jsonl"
    # Line 1: a byte-order mark, then UTF-8; lines 2 and 5: Latin-1 and a stray byte, not UTF-8.
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "prompt": "caf\xc3\xa9 ->", "completion": "1", "split": "train"}\n'
                     b'{"id": "b", "prompt": "caf\xe9 ->", "completion": "2"}\n'
                     b'\n'
                     b'{"id": "c", "prompt": "c ->", "completion": "3", "split": "train"}\n'
                     b'{"id": "d", "prompt": "d ->", "completion": "\xff"}\n'
                     b'not json\n'
                     b'{"id": "e", "prompt": "e ->", "completion": "5", "split": "heldout"}\n'
                     b'{"id": "f", "prompt": "f ->", "completion": "6", "split": "heldout"}\n')
    (t,) = tasks({"name": "t", "source": {"kind": "jsonl", "path": str(path), "id_field": "id",
                                          "split_field": "split"}})
    assert [(i.id, i.prompt, i.completion) for i in t.train] == [("a", "caf\u00e9 ->", "1"), ("c", "c ->", "3")]
    assert [i.id for i in t.heldout] == ["e", "f"]
    assert t.skipped == [(f"{path}:2", "not valid UTF-8"), (f"{path}:5", "not valid UTF-8"),
                         (f"{path}:6", "not valid JSON")]
    assert t.summary()["skipped"] == {"not valid UTF-8": 2, "not valid JSON": 1}
    assert write_quarantine([t], tmp_path / "q.jsonl") == 3
    assert [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()] == [
        {"task": "t", "where": f"{path}:2", "reason": "not valid UTF-8"},
        {"task": "t", "where": f"{path}:5", "reason": "not valid UTF-8"},
        {"task": "t", "where": f"{path}:6", "reason": "not valid JSON"}]


def test_a_lone_surrogate_escape_is_skipped_and_counted(tmp_path):
    records = [{"id": f"n{i}", "prompt": f"p{i}", "completion": "c", "split": ["train", "heldout"][i % 2]}
               for i in range(4)]
    records[1:1] = ['{"id": "a", "prompt": "x\\ud800", "completion": "y"}',
                    '{"id": "b\\udfff", "prompt": "x", "completion": "y"}',
                    '{"id": "c", "prompt": "x", "completion": "y", "distractors": ["\\ud800"]}']
    path = write_jsonl(tmp_path / "t.jsonl", records)
    (t,) = tasks({"name": "t", "source": {"kind": "jsonl", "path": str(path), "id_field": "id",
                                          "split_field": "split", "distractors_field": "distractors"}})
    assert [i.id for i in t.train] == ["n0", "n2"] and [i.id for i in t.heldout] == ["n1", "n3"]
    assert t.skipped == [(f"{path}:{n}", "a lone surrogate (not UTF-8 text)") for n in (2, 3, 4)]
    assert len(t.fingerprint()) == 64


@pytest.mark.parametrize("data", [b'{"prompt": "a", "completion": "b"}\n', b""])
def test_a_corrupt_or_truncated_gzip_task_file_is_one_line_naming_it(tmp_path, data):
    good = gzip.compress(b'{"prompt": "a", "completion": "b"}\n' * 50)
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(data or good[: len(good) // 2])  # not gzip at all, or cut short
    with pytest.raises(CurricleError, match=rf"^{path}: corrupt gzip file \(.+\)$"):
        tasks({"name": "t", "source": {"kind": "jsonl", "path": str(path)}})


def test_hash_split_shares_and_leaks_across_tasks_are_dropped(tmp_path):
    recs = [{"id": i, "prompt": f"reverse: {w} ->", "completion": " " + w[::-1]}
            for i, w in enumerate(f"{a}{b}{c}" for a in "abcdefgh" for b in "abcdefgh" for c in "abcd")]
    path = write_jsonl(tmp_path / "rev.jsonl", recs)
    (t,) = tasks({"name": "rev", "source": {"kind": "jsonl", "path": str(path), "heldout_share": 0.2,
                                            "test_share": 0.1}})
    assert len(t.train) + len(t.heldout) + len(t.test) == 256
    assert 30 <= len(t.heldout) <= 75 and 10 <= len(t.test) <= 45
    assert all(split_by_hash("rev", i.id, 0.2, 0.1) == "heldout" for i in t.heldout)
    # The same prompts as a built-in task: any of its held-out prompts in this file's train split is dropped.
    both = tasks({"name": "rev", "source": {"kind": "jsonl", "path": str(path)}},
                 {"name": "builtin-rev", "source": {"kind": "builtin", "skill": "reverse", "n_train": 50,
                                                    "n_heldout": 300, "n_test": 0,
                                                    "params": {"min_len": 3, "max_len": 3}}})
    held = {normalized(i.prompt) for t in both for i in t.heldout + t.test}
    assert both[0].overlap_dropped > 0
    assert not held & {normalized(i.prompt) for t in both for i in t.train}


def test_chat_records_need_a_chat_template(tmp_path):
    recs = [{"id": i, "messages": [{"role": "user", "content": f"reverse {w}"},
                                   {"role": "assistant", "content": w[::-1]}]} for i, w in enumerate(f"{a}{b}" for a in "abcd" for b in "wxyz")]
    path = write_jsonl(tmp_path / "chat.jsonl", recs + [{"id": 99, "messages": [{"role": "user", "content": "x"}]}])
    cfg = {"name": "chat", "source": {"kind": "jsonl", "path": str(path), "messages_field": "messages",
                                      "heldout_share": 0.5, "test_share": 0.0}}
    with pytest.raises(CurricleError, match="chat items need a tokenizer with a chat template"):
        tasks(cfg)

    class Tok:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    ids = {r["id"] for r in recs}
    (t,) = tasks({**cfg, "source": {**cfg["source"], "id_field": "id"}}, tokenizer=Tok())
    assert t.train[0].prompt.startswith("<user>reverse ") and t.train[0].prompt.endswith("<assistant>")
    assert t.skipped == [(f"{path}:17", "messages: messages is not a list of at least two messages")]
    assert len(t.train) + len(t.heldout) == len(ids)


def test_hf_disk_tasks(tmp_path):
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict({
        "a": datasets.Dataset.from_dict({"prompt": [f"{i}+0=" for i in range(40)], "completion": [str(i) for i in range(40)],
                                         "difficulty": list(range(40))}),
        "b": datasets.Dataset.from_dict({"prompt": ["x"], "completion": ["y"]}),
    })
    dd.save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(CurricleError, match="source.split: None is not a split"):
        tasks({"name": "h", "source": {"kind": "hf-disk", "path": str(tmp_path / "ds")}})
    (t,) = tasks({"name": "h", "source": {"kind": "hf-disk", "path": str(tmp_path / "ds"), "split": "a",
                                          "heldout_share": 0.3}})
    assert len(t.train) + len(t.heldout) + len(t.test) == 40 and t.train[0].id.startswith(str(tmp_path / "ds"))



def test_hf_disk_rows_that_are_not_utf8_are_skipped_and_a_corrupt_dataset_is_an_error(tmp_path):
    datasets = pytest.importorskip("datasets")
    pa = pytest.importorskip("pyarrow")
    # (The rows after the bad one differ: equal prompts split apart by their ids, which hold the
    # temporary path, would lose one to the train/test leak check, depending on the path.)
    raw = pa.array([f"{i}+1=".encode() for i in range(1500)] + [b"\xff+1=", b"9+9=", b"9+8="], pa.binary())
    prompts = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # bytes as they are: Arrow checks none
    path = tmp_path / "ds"
    datasets.Dataset(pa.table({"prompt": prompts, "completion": [str(i) for i in range(1503)],
                               "difficulty": [1.0] * 1503})).save_to_disk(str(path))
    (t,) = tasks({"name": "h", "source": {"kind": "hf-disk", "path": str(path)}})
    # As a JSON Lines line of bad UTF-8: the record is skipped under its reason, the rest are read.
    assert t.skipped == [(f"{path}:1500", "not valid UTF-8")]
    items = {i.id: i for i in t.train + t.heldout + t.test}
    assert len(items) == 1502 and items[f"{path}:1501"].prompt == "9+9=" and items[f"{path}:1502"].completion == "1502"
    (arrow,) = path.glob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    with pytest.raises(CurricleError, match=rf"^task h: {re.escape(str(path))}: a corrupt or truncated dataset "
                                            r"\([^\n]+\)$"):
        tasks({"name": "h", "source": {"kind": "hf-disk", "path": str(path)}})

def test_config_errors_name_the_field():
    with pytest.raises(Exception, match="unknown skill"):
        TypeAdapter(TaskConfig).validate_python({"name": "x", "source": {"kind": "builtin", "skill": "nope"}})
    with pytest.raises(Exception, match="give 'grader' exactly when metric is 'grader'"):
        TaskConfig.model_validate({"name": "x", "source": {"kind": "builtin", "skill": "copy"},
                                   "scoring": {"metric": "grader"}})
    with pytest.raises(CurricleError, match="task x: no such file"):
        tasks({"name": "x", "source": {"kind": "jsonl", "path": "/nonexistent.jsonl"}})
    with pytest.raises(CurricleError, match=r"^task x: arithmetic: digits must be an integer, got 2.5$"):
        tasks({"name": "x", "source": {"kind": "builtin", "skill": "arithmetic", "params": {"digits": 2.5}}})
    with pytest.raises(CurricleError, match="'x' is defined more than once"):
        tasks({"name": "x", "source": {"kind": "builtin", "skill": "copy", "n_train": 5, "n_heldout": 2}},
              {"name": "x", "source": {"kind": "builtin", "skill": "copy", "n_train": 5, "n_heldout": 2}})


def test_written_steps_and_the_default_graders():
    from curricle.graders.base import build_grader
    from curricle.graders.config import GRADERS

    cfg = TaskConfig.model_validate({"name": "add", "source": {"kind": "builtin", "skill": "arithmetic",
                                                               "params": {"digits": 2}, "written": "steps",
                                                               "n_train": 20, "n_heldout": 4}})
    (t,) = build_tasks([cfg])
    item = next(i for i in t.train if i.id == "47+85") if any(i.id == "47+85" for i in t.train) else t.train[0]
    a, b = (int(x) for x in item.id.split("+"))
    assert item.meta["steps"][-1] == str(a + b) and item.completion == " " + " ; ".join(item.meta["steps"])
    assert cfg.grader_config() == {"kind": "process"}
    g = build_grader(GRADERS.configs["process"]())
    assert g.grade(item, item.completion).score == 1.0
    plain = TaskConfig.model_validate({"name": "add", "source": {"kind": "builtin", "skill": "arithmetic"}})
    assert plain.grader_config() == {"kind": "numeric"}
    rev = TaskConfig.model_validate({"name": "r", "source": {"kind": "builtin", "skill": "reverse"},
                                     "grader": {"kind": "regex", "pattern": "(\\\\w+)"}})
    assert rev.grader_config()["kind"] == "regex"
    assert TaskConfig.model_validate({"name": "r", "source": {"kind": "builtin", "skill": "reverse"}}
                                     ).grader_config() == {"kind": "exact"}


def test_the_steps_of_a_sum_and_a_composite():
    from curricle.synthetic import make_generator

    add = make_generator("arithmetic", 0, digits=3)
    assert add.steps(add.item(47, 85)) == ["7+5=12", "4+8+1=13", "132"]
    assert add.steps(add.item(345, 8)) == ["5+8=13", "4+0+1=5", "3+0=3", "353"]
    ru = make_generator("reverse+uppercase", 0)
    assert ru.steps(ru.item("abc")) == ["cba", "CBA"]
    assert make_generator("reverse", 0).steps(make_generator("reverse", 0).item("abc")) == ["cba"]
