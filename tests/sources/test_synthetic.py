import pytest
from pydantic import TypeAdapter, ValidationError

from curricle.sources.base import Document
from curricle.sources.synthetic import SyntheticConfig, SyntheticSource
from curricle.synthetic import make_generator


def test_documents_are_the_generators_train_documents():
    config = SyntheticConfig(domain="math", skill="arithmetic", seed=3, n_docs=4, items_per_doc=5)
    source = SyntheticSource(config)
    docs = list(source)
    expected = list(make_generator("arithmetic", seed=3).documents(4, 5))
    assert docs == [Document(i, t, domain="math", meta={"skill": "arithmetic"}) for i, t in expected]
    assert docs[0].id == "arithmetic-3-0" and docs[0].text.count("\n") == 5
    assert source.describe() == "synthetic arithmetic" and source.stats.read == 4


def test_params_reach_the_generator_and_max_docs_stops():
    config = SyntheticConfig(
        domain="math", skill="arithmetic-hard", params={"digits": 5}, n_docs=10, items_per_doc=2, max_docs=3
    )
    docs = list(SyntheticSource(config))
    assert len(docs) == 3
    assert docs == [
        Document(i, t, "math", {"skill": "arithmetic-hard"})
        for i, t in make_generator("arithmetic-hard", digits=5).documents(3, 2)
    ]


def test_defaults_and_fingerprint():
    config = SyntheticConfig(domain="skills", skill="brackets")
    fields = config.model_dump(include={"kind", "seed", "n_docs", "items_per_doc", "params"})
    assert fields == {"kind": "synthetic", "seed": 0, "n_docs": 500, "items_per_doc": 16, "params": {}}
    assert SyntheticSource(config).fingerprint()["skill"] == "brackets"


def test_unknown_skill_lists_valid_names():
    with pytest.raises(
        ValidationError, match="unknown skill 'sums'; expected one of: copy, facts, arithmetic"
    ):
        SyntheticConfig(domain="d", skill="sums")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"n_docs": 0}, "greater than 0"),
        ({"items_per_doc": -1}, "greater than 0"),
        ({"params": {"digits": 0}}, "digits must be >= 1"),
        ({"params": {"width": 2}}, "bad parameters"),
        ({"shuffle": True}, "Extra inputs are not permitted"),
    ],
)
def test_bad_fields_fail_at_load(fields, message):
    with pytest.raises(ValidationError, match=message):
        SyntheticConfig(domain="d", skill="arithmetic", **fields)


def test_registered_as_a_source_kind():
    from curricle.sources import SOURCES, SourceSpec, build_source

    assert SOURCES["synthetic"] is SyntheticSource
    config = TypeAdapter(SourceSpec).validate_python({"kind": "synthetic", "domain": "d", "skill": "copy"})
    assert isinstance(config, SyntheticConfig)
    assert isinstance(build_source(config), SyntheticSource)
