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


def test_levels_split_the_documents_and_name_the_level():
    config = SyntheticConfig(domain="copy", skill="copy", n_docs=5, items_per_doc=3, levels=[2, "8"])
    assert config.levels == ["2", "8"]
    docs = list(SyntheticSource(config))
    assert [d.id for d in docs] == ["copy@2-0-0", "copy@2-0-1", "copy@2-0-2", "copy@8-0-0", "copy@8-0-1"]
    assert [d.meta for d in docs[2:4]] == [{"skill": "copy", "level": "2"}, {"skill": "copy", "level": "8"}]
    assert [t for _, t in make_generator("copy", level="8").documents(2, 3)] == [d.text for d in docs[3:]]
    first = docs[0].text.splitlines()[0]
    assert first.startswith("copy: ") and len(first.split(" | ")[1].split()) == 2
    assert SyntheticSource(config).describe() == "synthetic copy at levels 2, 8"


def test_levels_are_written_easiest_first_whatever_the_order_given():
    config = SyntheticConfig(domain="copy", skill="copy", n_docs=5, items_per_doc=3, levels=[16, 2])
    assert config.levels == ["2", "16"]
    docs = list(SyntheticSource(config))
    # The easier level first, with the extra document of the uneven split.
    assert [d.id for d in docs] == ["copy@2-0-0", "copy@2-0-1", "copy@2-0-2", "copy@16-0-0", "copy@16-0-1"]
    assert SyntheticSource(config).describe() == "synthetic copy at levels 2, 16"


@pytest.mark.parametrize("fields, message", [
    ({"levels": ["3"]}, r"unknown level '3' \(levels: 2, 4, 8, 16\)"),
    ({"levels": ["2", "2"]}, "distinct levels"),
    ({"levels": ["2", "4"], "n_docs": 1}, "at least one per level"),
    ({"levels": ["4"], "params": {"min_words": 3}}, "give them in params or the level, not both"),
])
def test_bad_levels_fail_at_load(fields, message):
    with pytest.raises(ValidationError, match=message):
        SyntheticConfig(domain="d", skill="copy", **fields)
