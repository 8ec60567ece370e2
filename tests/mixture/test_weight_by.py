"""``mixture.weight_by``: a domain's documents drawn with probability proportional to
``exp(score / temperature)``; null scores, pacing, exact resume and one-line errors."""

import json

import numpy as np
import pytest
from scipy.stats import chi2

from curricle.config import parse_config
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, PacingConfig, StaticConfig, WeightByConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.mixture.weight_by import draw_probabilities, weight_by_scores
from curricle.store import TokenStore

QUALITY = [0.0, 0.5, 1.0, 1.5, None]  # the null one gets the median of the others: 0.75
T = 0.5
#: The chi-square test's level: the empirical counts are judged against the formula's
#: probabilities at 1 - ALPHA (the draws are seeded, so the outcome is fixed; this says how
#: far from the formula the counts could be and still pass).
ALPHA = 0.001


def docs(n, length=3):
    """``n`` documents of ``length`` tokens, every token unique (so a token names its document)."""
    return [list(range(1 + i * length, 1 + (i + 1) * length)) for i in range(n)]


@pytest.fixture
def store(make_store):
    return TokenStore(make_store({"a": docs(5), "b": docs(4)},
                                 extra_meta={"a/quality": QUALITY, "a/label": ["x", "y", "x", "y", "x"],
                                             "a/empty": [None] * 5}))


def mixture(**kw):
    base = dict(max_epochs=1e9, batch_rows=8, seq_len=15, schedule=StaticConfig(weights={"a": 1.0}),
                weight_by={"a": WeightByConfig(column="quality", temperature=T)})
    base.update(kw)
    return MixtureConfig(**base)


def formula(scores, temperature):
    e = np.exp(np.asarray(scores) / temperature)
    return e / e.sum()


def draws_of(sampler, steps, domain="a"):
    for _ in range(steps):
        sampler.next_batch()
    return sampler.exposure_state()[domain]


def test_probabilities_are_the_stated_formula_with_nulls_at_the_median(store):
    split = store.split("a")
    cfg = WeightByConfig(column="quality", temperature=T)
    scores = weight_by_scores(split, "a", cfg)
    assert scores.tolist() == [0.0, 0.5, 1.0, 1.5, 0.75]
    np.testing.assert_allclose(draw_probabilities(scores, cfg), formula(scores, T), rtol=1e-12)
    low = WeightByConfig(column="quality", temperature=2.0, prefer="low", missing="max")
    assert weight_by_scores(split, "a", low).tolist() == [0.0, 0.5, 1.0, 1.5, 1.5]
    np.testing.assert_allclose(draw_probabilities(weight_by_scores(split, "a", low), low),
                               formula([-0.0, -0.5, -1.0, -1.5, -1.5], 2.0), rtol=1e-12)
    assert weight_by_scores(split, "a", WeightByConfig(column="quality", temperature=1, missing=-3)).tolist() == \
           [0.0, 0.5, 1.0, 1.5, -3.0]
    # No overflow however small the temperature: the best document takes (nearly) every draw.
    p = draw_probabilities(np.array([0.0, 1000.0]), WeightByConfig(column="q", temperature=1e-3))
    assert p.tolist() == [0.0, 1.0]


def test_draw_frequencies_follow_the_formula(store):
    s = MixtureSampler(store, mixture(), seed=3)
    counts = draws_of(s, 500)  # 8 rows of 16 tokens a step, 4 documents of 4 tokens a row
    n = int(counts.sum())
    assert n == 500 * 32
    p = formula([0.0, 0.5, 1.0, 1.5, 0.75], T)
    stat = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert stat < chi2.ppf(1 - ALPHA, df=len(p) - 1)
    # ...and not the uniform draw an unweighted domain would make.
    u = np.full(5, n / 5)
    assert float(((counts - u) ** 2 / u).sum()) > chi2.ppf(1 - 1e-9, df=4)
    # The most frequent document is the best scored: e**3 (about 20) times the worst's rate.
    assert counts.argmax() == 3 and 15 < counts[3] / counts[0] < 25


def test_with_pacing_the_formula_holds_among_the_available_documents(store):
    # n_tokens is equal everywhere, so pacing ranks in document order; start 0.5 makes the
    # first ceil(2.5) = 3 of 5 documents available for the whole test.
    pacing = PacingConfig(column="n_tokens", kind="fixed_linear", start=0.5, steps=10**9)
    s = MixtureSampler(store, mixture(pacing={"a": pacing}), seed=5)
    counts = draws_of(s, 400)
    assert counts[3:].tolist() == [0, 0]
    n = int(counts.sum())
    p = formula([0.0, 0.5, 1.0], T)
    stat = float(((counts[:3] - n * p) ** 2 / (n * p)).sum())
    assert stat < chi2.ppf(1 - ALPHA, df=2)


def test_same_seed_same_stream_and_resume_is_exact(store):
    cfg = mixture(schedule=StaticConfig(weights={"a": 0.7, "b": 0.3}), seq_len=6)
    full_s = MixtureSampler(store, cfg, seed=1)
    full = [full_s.next_batch() for _ in range(40)]
    again = MixtureSampler(store, cfg, seed=1)
    assert all(np.array_equal(x.tokens, again.next_batch().tokens) for x in full)
    other = MixtureSampler(store, cfg, seed=2)
    assert not all(np.array_equal(x.tokens, other.next_batch().tokens) for x in full)

    first = MixtureSampler(store, cfg, seed=1)
    for _ in range(17):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))
    assert state["drawn"]["a"] == [167, 2, 1]  # 167 documents drawn, stopped 1 token into document 2
    resumed = MixtureSampler(store, cfg, seed=1)
    resumed.load_state_dict(state)
    rest = [resumed.next_batch() for _ in range(23)]
    assert all(x.step == y.step and np.array_equal(x.tokens, y.tokens) for x, y in zip(full[17:], rest))
    # A state saved without weight_by does not resume with it.
    plain = MixtureSampler(store, mixture(weight_by={}), seed=1)
    with pytest.raises(CurricleError, match="^sampler state: it was saved with pacing, priorities or weight_by on "
                                            "other domains than this config's$"):
        resumed.load_state_dict(plain.state_dict())


@pytest.mark.parametrize("world", [1, 2])
def test_the_batched_weighted_stream_is_the_document_loop_bit_for_bit(make_store, world):
    rng = np.random.default_rng(0)
    lengths = [1, 2, 40, 5, 13, 1, 70, 3, 9, 25, 2, 6]  # some longer than a row, some of one token
    start, a = 1, []
    for n in lengths:
        a.append(list(range(start, start + n)))
        start += n
    store = TokenStore(make_store({"a": a, "b": docs(4)},
                                  extra_meta={"a/quality": rng.normal(size=len(lengths)).tolist()}))
    cfg = mixture(batch_rows=64, schedule=StaticConfig(weights={"a": 0.8, "b": 0.2}),
                  seq_len={"points": [[0, 4], [30, 24]], "multiple_of": 2},
                  weight_by={"a": WeightByConfig(column="quality", temperature=0.7)})
    for rank in range(world):
        fast = MixtureSampler(store, cfg, seed=4, rank=rank, world_size=world)
        loop = MixtureSampler(store, cfg, seed=4, rank=rank, world_size=world)
        loop._weighted_mean_len = {}  # the per-document loop of drawn domains
        for _ in range(150):
            x, y = fast.next_batch(), loop.next_batch()
            assert np.array_equal(x.tokens, y.tokens) and np.array_equal(x.domain_ids, y.domain_ids)
            assert fast.state_dict() == loop.state_dict()
        assert np.array_equal(fast.exposure_state()["a"], loop.exposure_state()["a"])
        assert fast.state_dict()["drawn"]["a"][0] > 4096  # past the first block of uniform numbers


def test_bad_weight_by_fails_with_one_line(store):
    def build(**wb):
        return MixtureSampler(store, mixture(weight_by={"a": WeightByConfig(**{"temperature": 1, **wb})}))

    with pytest.raises(CurricleError) as err:
        build(column="qualty")
    assert str(err.value).startswith("mixture.weight_by.a.column: domain 'a' has no metadata column 'qualty' "
                                     "(has: doc_id, n_tokens, quality")
    with pytest.raises(CurricleError, match=r"^mixture.weight_by.a.column: 'label' holds string values; "
                                            r"weight_by weighs numbers$"):
        build(column="label")
    with pytest.raises(CurricleError, match=r"^mixture.weight_by.a.column: every document of domain 'a' has a "
                                            r"null 'empty'; nothing to weigh by$"):
        build(column="empty")
    with pytest.raises(CurricleError, match=r"^mixture.weight_by.a: the controller draws domain 'a' by its own "
                                            r"document priorities"):
        MixtureSampler(store, mixture(), prioritized=["a"])


def run_config(**weight_by):
    return {"data_dir": "data", "sources": [{"kind": "synthetic", "skill": "copy", "domain": "copy"}],
            "mixture": {"weight_by": {"copy": {"column": "quality", **weight_by}}}}


@pytest.mark.parametrize("weight_by, message", [
    ({"temperature": 0}, "config: mixture.weight_by.copy.temperature: Input should be greater than 0"),
    ({"temperature": -1}, "config: mixture.weight_by.copy.temperature: Input should be greater than 0"),
    ({}, "config: mixture.weight_by.copy.temperature: Field required"),
    ({"temperature": float("inf")}, "config: mixture.weight_by.copy.temperature: Input should be a finite number"),
    ({"temperature": 1, "prefer": "up"}, "config: mixture.weight_by.copy.prefer: Input should be 'high' or 'low'"),
    ({"temperature": 1, "missing": "mean"}, "config: mixture.weight_by.copy.missing: expected median, min, max or "
                                            "a finite number, got 'mean'"),
    ({"temperature": 1, "missing": float("nan")}, "config: mixture.weight_by.copy.missing: expected median, min, max "
                                                  "or a finite number, got nan"),
    ({"column": "", "temperature": 1}, "config: mixture.weight_by.copy.column: String should have at least 1 "
                                       "character"),
])
def test_bad_weight_by_config_is_one_line_naming_the_field(weight_by, message):
    with pytest.raises(CurricleError) as err:
        parse_config(run_config(**weight_by))
    assert str(err.value) == message


def test_weight_by_an_unknown_domain_is_refused_at_load():
    data = run_config(temperature=1)
    data["mixture"]["weight_by"]["cod"] = data["mixture"]["weight_by"].pop("copy")
    with pytest.raises(CurricleError, match=r"^config: mixture.weight_by: unknown domain 'cod' \(the sources "
                                            r"declare: copy\)$"):
        parse_config(data)


@pytest.mark.slow
def test_a_training_run_with_weight_by_killed_and_resumed_serves_the_same_rows(tmp_path, prepared_dir):
    import subprocess

    import yaml

    from tests.train.conftest import PYTHON, run_config_dict, run_killed_then_resumed

    data = run_config_dict(prepared_dir, trace=True)
    data["mixture"]["weight_by"] = {"copy": {"column": "mean_token_rarity", "temperature": 0.2},
                                    "arithmetic": {"column": "compression_ratio", "temperature": 0.5, "prefer": "low"}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data))
    sampler = MixtureSampler(TokenStore(prepared_dir), parse_config(data).mixture)
    assert sorted(sampler.domains[d] for d in sampler._weight_cdf) == ["arithmetic", "copy"]

    def cmd(run_dir):
        return [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir", str(run_dir)]

    subprocess.run(cmd(tmp_path / "full"), check=True, capture_output=True)
    r = run_killed_then_resumed(cmd(tmp_path / "killed"), tmp_path / "killed")
    assert r.returncode == 0, r.stderr

    def rows(run):
        return {t["step"]: t["rows"] for t in map(json.loads, (tmp_path / run / "trace" / "rows.rank0.jsonl")
                                                  .read_text().splitlines())}

    def losses(run):
        return [(m["step"], m["loss"]) for m in map(json.loads, (tmp_path / run / "metrics.jsonl").read_text()
                                                     .splitlines())]

    full, killed = rows("full"), rows("killed")
    # Every step's rows, hashed (a step redone after the kill: its last record).
    assert sorted(full) == list(range(1, 41)) and killed == full
    assert losses("killed") == losses("full")
