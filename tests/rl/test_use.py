"""use_prompt_curriculum: a user's own TRL GRPOTrainer, its own reward function and dataset,
drawing curricle's prompts in the policy's order; the one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curricle.errors import CurricleError
from curricle.rl.config import LearnabilityCurriculum, PassRateConfig
from curricle.rl.curricula import build_policy
from curricle.rl.use import prompts_from_dataset, use_prompt_curriculum
from tests.finetune.conftest import tiny_checkpoint

G, K, STEPS = 4, 2, 6


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("use-ckpt"))


def user_trainer(checkpoint, out, reward, **args):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    words = ["ab", "cd", "ef", "gh", "abc", "bcd", "cde", "def", "abcd", "bcde"]
    data = datasets.Dataset.from_dict({"prompt": [f"reverse {w}:" for w in words], "task": ["rev"] * len(words),
                                       "difficulty": [len(w) for w in words], "curricle_row": list(range(10, 20))})
    config = GRPOConfig(str(out), max_steps=STEPS, per_device_train_batch_size=K * G, num_generations=G,
                        max_completion_length=3, learning_rate=1e-3, use_cpu=True, report_to=[], save_steps=100,
                        logging_steps=1, seed=0, dataloader_num_workers=0, **{"ignore_data_skip": True, **args})
    return GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(checkpoint), reward_funcs=[reward], args=config,
                       train_dataset=data, processing_class=AutoTokenizer.from_pretrained(checkpoint))


def test_a_users_grpo_trainer_draws_the_policys_prompts_in_order(tmp_path, checkpoint):
    seen: list[list[int]] = []
    given: list[list[float]] = []

    def my_reward(prompts, completions, curricle_row, **kwargs):
        """The user's reward: it depends on the prompt (a pass rate per prompt) and the completion."""
        seen.append([int(r) for r in curricle_row])
        given.append([float((int(r) + len(c)) % 3 == 0) for r, c in zip(curricle_row, completions)])
        return given[-1]

    trainer = user_trainer(checkpoint, tmp_path / "run", my_reward)
    callback = use_prompt_curriculum(trainer, {"kind": "learnability", "max_draws": 3}, trace=True)
    assert callback.feed.sampler.max_draws == 3  # the config's, as curricle rl passes it
    trainer.train()
    trace = [json.loads(line) for line in (tmp_path / "run" / "trace" / "prompts.rank0.jsonl").read_text().splitlines()]
    assert [t["step"] for t in trace] == list(range(1, STEPS + 1))
    # The model was fed the traced prompts, each num_generations times, in the traced order.
    assert seen == [[r for r in t["rows"] for _ in range(G)] for t in trace]
    # The traced prompts are the policy's: a fresh policy fed the same groups chooses them, step k
    # from its state after step k - 2.
    log = [json.loads(line) for line in (tmp_path / "run" / "curriculum_log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and [e["event"] for e in log[1:]] == ["learnability"] * STEPS
    prompts = prompts_from_dataset(trainer.train_dataset)
    policy = build_policy(LearnabilityCurriculum(), prompts, 0, PassRateConfig())
    snaps = {-1: policy.snapshot()}
    for k in range(STEPS):
        assert policy.choose(snaps[max(k - 2, -1)], k, K) == trace[k]["rows"]
        policy.observe(k, [(seen[k][i], given[k][i:i + G]) for i in range(0, K * G, G)])
        snaps[k] = policy.snapshot()
    assert {k: v for k, v in log[-1].items()} == {"step": STEPS - 1, **policy._observe(STEPS - 1, [])}
    # The same per-step metrics as curricle rl: rollouts, mean reward, the zero-variance share.
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, STEPS + 1))
    assert [m["rollouts"] for m in metrics] == [K * G * (k + 1) for k in range(STEPS)]
    assert [m["reward"] for m in metrics] == pytest.approx([sum(g) / len(g) for g in given])
    zero = [sum(len(set(g[i:i + G])) == 1 for i in range(0, K * G, G)) / K for g in given]
    assert [m["zero_variance_groups"] for m in metrics] == pytest.approx(zero)


def test_what_the_curriculum_needs_is_checked_in_one_line(tmp_path, checkpoint):
    def reward(completions, **kwargs):
        return [0.0] * len(completions)

    with pytest.raises(CurricleError) as err:
        use_prompt_curriculum(user_trainer(checkpoint, tmp_path / "a", reward, num_iterations=2), {"kind": "uniform"})
    assert str(err.value) == ("GRPOConfig: the prompt curriculum needs max_steps > 0, ignore_data_skip=True, "
                              "dataloader_num_workers=0 and one generation per optimizer step (steps_per_generation = "
                              "gradient_accumulation_steps, num_iterations=1) (got num_iterations=2)")
    # HF's default skips a resumed run's done batches through the sampler, which would draw them again.
    with pytest.raises(CurricleError) as err:
        use_prompt_curriculum(user_trainer(checkpoint, tmp_path / "s", reward, ignore_data_skip=False),
                              {"kind": "uniform"})
    assert str(err.value).endswith("(got ignore_data_skip=False)")
    trainer = user_trainer(checkpoint, tmp_path / "b", reward)
    with pytest.raises(CurricleError) as err:
        use_prompt_curriculum(trainer, {"kind": "learnability", "gates": [{"kind": "zero-variance"}]})
    assert str(err.value).startswith("curriculum: gates after generation replace rejected groups inside")
    with pytest.raises(CurricleError) as err:
        use_prompt_curriculum(trainer, {"kind": "lilo"})
    assert str(err.value).startswith("curriculum: lilo keeps the top groups of a pool inside")
    with pytest.raises(CurricleError) as err:
        use_prompt_curriculum(trainer, {"kind": "target-difficulty"})
    assert str(err.value).startswith("curriculum.difficulty: profile needs the base sampling pass")
    with pytest.raises(CurricleError) as err:
        use_prompt_curriculum(trainer, {"kind": "learnabilty"})
    assert str(err.value).startswith("use_prompt_curriculum: curriculum: ")
    with pytest.raises(CurricleError) as err:
        use_prompt_curriculum(_without_rows(trainer), {"kind": "uniform"})
    assert str(err.value).startswith("the trainer's train_dataset has no 'curricle_row' column")


def _without_rows(trainer):
    trainer.train_dataset = trainer.train_dataset.remove_columns("curricle_row")
    return trainer
