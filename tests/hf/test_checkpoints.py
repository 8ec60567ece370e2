"""The one finder of complete HF ``checkpoint-N`` directories."""

from __future__ import annotations

import json
from pathlib import Path

from curricle.hf.checkpoints import checkpoint_dir, complete_checkpoints
from curricle.train.checkpoint import seal

STATE = "curricle_test.json"


def write_checkpoint(root: Path, step: int, sealed: bool = True, trainer_state: bool = True) -> Path:
    folder = checkpoint_dir(root, step)
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"w" * 64)
    if trainer_state:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if sealed:
        seal(folder, {"sampler": {"position": step}}, STATE)
    return folder


def test_only_complete_checkpoints_are_found_newest_first(tmp_path):
    write_checkpoint(tmp_path, 2)
    write_checkpoint(tmp_path, 4)
    write_checkpoint(tmp_path, 6, sealed=False)  # killed before curricle's state file
    write_checkpoint(tmp_path, 8, trainer_state=False)  # not the trainer's checkpoint
    torn = write_checkpoint(tmp_path, 10)
    with open(torn / "model.safetensors", "ab") as f:  # a file that is not what the state file vouches for
        f.write(b"!")
    (tmp_path / "checkpoint-last").mkdir()  # not a step
    assert complete_checkpoints(tmp_path, STATE) == [(4, tmp_path / "checkpoint-4"), (2, tmp_path / "checkpoint-2")]


def test_the_state_file_records_every_other_file_and_its_size(tmp_path):
    folder = write_checkpoint(tmp_path, 3)
    state = json.loads((folder / STATE).read_text())
    assert state == {"sampler": {"position": 3}, "files": {"model.safetensors": 64, "trainer_state.json": 18}}


def test_a_checkpoint_from_before_file_sizes_were_recorded_is_still_complete(tmp_path):
    folder = write_checkpoint(tmp_path, 5, sealed=False)
    (folder / STATE).write_text(json.dumps({"sampler": {"position": 5}}))  # no "files"
    (tmp_path / "checkpoint-7").mkdir()
    (tmp_path / "checkpoint-7" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-7" / STATE).write_text('{"sampler": ')  # torn: not valid JSON
    assert complete_checkpoints(tmp_path, STATE) == [(5, folder)]


def test_no_directory_no_checkpoints(tmp_path):
    assert complete_checkpoints(tmp_path / "nowhere", STATE) == []
