"""A stateful hook defined outside curricle, and a script that trains with it.

``python -m tests.train.tally CONFIG RUN_DIR [--resume]`` trains the run with a
:class:`TokenTally` hook; the tests kill it and resume it.
"""

from __future__ import annotations

import hashlib
import sys

from curricle.config import load_config
from curricle.train.command import train_run
from curricle.train.hooks import Hook

TALLY_LOG = "tally.jsonl"


class TokenTally(Hook):
    """Counts the training tokens of each domain and chains a hash of every row trained on;
    both are its state, so they must survive a kill and resume and follow a rollback."""

    name = "tally"
    logs = (TALLY_LOG,)

    def __init__(self):
        self.tokens: dict[str, int] = {}
        self.digest = ""
        self.rolled_back: list[dict] = []

    def state_dict(self):
        return {"tokens": dict(self.tokens), "digest": self.digest}

    def load_state_dict(self, state):
        self.tokens = dict(state["tokens"])
        self.digest = state["digest"]

    def on_step_end(self, state, batch, metrics):
        for row, d in zip(batch.tokens, batch.domain_ids.tolist()):
            name = state.domains[d]
            self.tokens[name] = self.tokens.get(name, 0) + row.numel() - 1
            self.digest = hashlib.sha256((self.digest + row.numpy().tobytes().hex()).encode()).hexdigest()
        state.append_log(TALLY_LOG, {"step": metrics["step"], "digest": self.digest, "tokens": dict(self.tokens)})

    def on_rollback(self, state, checkpoint):
        self.rolled_back.append({"checkpoint": checkpoint.name, **self.state_dict()})


if __name__ == "__main__":
    config_path, run_dir, *flags = sys.argv[1:]
    train_run(load_config(config_path), run_dir, resume="--resume" in flags, hooks=[TokenTally()], progress=False)
