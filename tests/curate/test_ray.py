"""The same curate run on a local Ray instance (started by the test) writes what the local
executor writes."""

from __future__ import annotations

import pytest

from curricle.curate.pipeline import curate

from tests.curate.conftest import curate_config, curated_docs, make_prose, quarantine, run_config, write_jsonl

ray = pytest.importorskip("ray")

# datatrove 0.10.1 passes Ray the placement-group options Ray 2.60 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:placement_group:DeprecationWarning")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_matches_local(tmp_path, local_ray):
    files = []
    for k in range(3):
        records = [{"id": f"s{k}-{i}", "text": make_prose(100 * k + i)} for i in range(4)]
        records.append({"id": f"dup{k}", "text": make_prose(999)})  # the same text in every shard
        files.append(write_jsonl(tmp_path / "in" / f"{k}.jsonl", records, raw_lines=[b"oops"]))
    run = run_config(tmp_path, [{"kind": "jsonl", "path": str(tmp_path / "in" / "*.jsonl"), "domain": "web"}])
    steps = dict(pii={}, exact_dedup={}, near_dedup={}, line_dedup={}, code_quality={})

    on_ray = curate(curate_config(tmp_path / "ray", workers=2, ray_memory_per_task_gb=0.5, **steps), run.sources,
                    executor="ray", progress=False)
    local = curate(curate_config(tmp_path / "local", **steps), run.sources, progress=False)

    assert on_ray.executor == "ray" and on_ray.check() == []
    assert curated_docs(on_ray) == curated_docs(local)
    assert on_ray.to_dict()["domains"] == local.to_dict()["domains"]
    assert [e["id"] for e in quarantine(tmp_path / "ray" / "curated", "exact-dedup")] == ["dup1", "dup2"]
    assert len(quarantine(tmp_path / "ray" / "curated", "read")) == 3


@pytest.mark.slow
def test_ray_runs_user_steps_from_an_importable_module(tmp_path, local_ray):
    from collections import Counter

    from curricle.config import parse_config

    records = [{"id": "ok", "text": make_prose(1)}, {"id": "ad", "text": "BUY NOW " + make_prose(2)},
               {"id": "boom", "text": make_prose(3) + " explode"}]
    for k in range(2):
        write_jsonl(tmp_path / "in" / f"{k}.jsonl", [{**r, "id": f"{r['id']}-{k}"} for r in records])

    def run(out, **kw):
        cfg = parse_config({"sources": [{"kind": "jsonl", "path": str(tmp_path / "in" / "*.jsonl"), "domain": "web"}],
                            "curate": {"output_dir": str(tmp_path / out), "ray_memory_per_task_gb": 0.5, **kw,
                                       "pipeline": [{"kind": "python", "function": "tests.curate.user_steps:drop_ads"},
                                                    {"kind": "exact-dedup"}]}})
        return curate(cfg.curate, cfg.sources, progress=False, executor="ray" if out == "ray" else None)

    on_ray, local = run("ray", workers=2), run("local")
    assert on_ray.to_dict()["domains"] == local.to_dict()["domains"]
    assert dict(on_ray.domains["web"])["drop_ads"].docs_dropped == Counter({"advert": 2, "error": 2})
