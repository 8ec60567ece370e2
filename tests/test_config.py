import pytest

from curricle.config import field_path, load_config, parse_config
from curricle.errors import CurricleError

SOURCES = [{"kind": "jsonl", "path": "a.jsonl", "domain": "a"}, {"kind": "jsonl", "path": "b.jsonl", "domain": "b"}]


def write(tmp_path, text: str):
    p = tmp_path / "run.yaml"
    p.write_text(text)
    return p


def error_of(data) -> str:
    with pytest.raises(CurricleError) as exc:
        parse_config(data, "run.yaml")
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_a_valid_config_with_defaults():
    cfg = parse_config({"sources": SOURCES})
    assert cfg.domains == ["a", "b"]
    assert cfg.mixture.schedule.kind == "static" and cfg.mixture.schedule.temperature == 1.0
    assert cfg.tokenizer.kind == "bpe"


def test_unknown_key_names_the_field():
    assert error_of({"sources": SOURCES, "mixture": {"batch_rowz": 3}}) == "run.yaml: mixture.batch_rowz: unknown key"


def test_wrong_type_names_the_field():
    msg = error_of({"sources": SOURCES, "mixture": {"batch_rows": "many"}})
    assert msg.startswith("run.yaml: mixture.batch_rows: Input should be a valid integer")


def test_phase_naming_an_unknown_domain():
    msg = error_of({"sources": SOURCES, "mixture": {"schedule": {"kind": "phases", "phases": [
        {"name": "w", "steps": 3, "weights": {"a": 1}}, {"name": "x", "weights": {"c": 1}}]}}})
    assert msg == "run.yaml: mixture.schedule.phases.1.weights: unknown domain 'c' (the sources declare: a, b)"


def test_pacing_naming_an_unknown_domain():
    msg = error_of({"sources": SOURCES, "mixture": {"pacing": {"q": {"steps": 10}}}})
    assert msg == "run.yaml: mixture.pacing: unknown domain 'q' (the sources declare: a, b)"


@pytest.mark.parametrize("weights, match", [
    ({"a": -1, "b": 1}, "weight of 'a' is -1.0; weights must be finite and >= 0"),
    ({"a": 0, "b": 0}, "all weights are zero"),
])
def test_bad_weights(weights, match):
    msg = error_of({"sources": SOURCES, "mixture": {"schedule": {"kind": "static", "weights": weights}}})
    assert msg.startswith("run.yaml: mixture.schedule.weights:") and match in msg


SYNTHETIC = {"kind": "synthetic", "skill": "copy", "domain": "c"}


@pytest.mark.parametrize("data, message", [
    # The tag pydantic puts in the path of a union's member (the kind) is not a field: left out.
    ({"mixture": {"schedule": {"kind": "phases", "phases": [{"name": "w", "weights": {"a": 1}, "foo": 1}]}}},
     "mixture.schedule.phases.0.foo: unknown key"),
    ({"sources": [*SOURCES, {**SYNTHETIC, "foo": 1}]}, "sources.2.foo: unknown key"),
    ({"controller": {"kind": "doremi", "step_size": "x", "reference": {"steps": 5}}},
     "controller.step_size: Input should be a valid number, unable to parse string as a number"),
    ({"mixture": {"schedule": {"kind": "static", "weights": {"a": -1}}}},
     "mixture.schedule.weights: weight of 'a' is -1.0; weights must be finite and >= 0"),
    # A missing field is the last step of the path: kept, though the input lacks it.
    ({"sources": [{"kind": "jsonl", "domain": "a"}]}, "sources.0.path: Field required"),
    ({"mixture": {"pacing": {"a": {"column": "n_tokens"}}}}, "mixture.pacing.a.steps: Field required"),
])
def test_errors_name_the_field_as_written_without_union_tags(data, message):
    assert error_of({"sources": SOURCES, **data}) == f"run.yaml: {message}"


def test_a_missing_section_is_named():
    assert error_of({}) == "run.yaml: sources: Field required"


@pytest.mark.parametrize("loc, data, path", [
    (("schedule", "phases", "phases", 0, "foo"), {"schedule": {"kind": "phases", "phases": [{}]}},
     "schedule.phases.0.foo"),  # the kind, then the field of the same name
    (("a", "list[str]", 0), {"a": ["x"]}, "a.0"),  # a list is indexed by numbers: a name in it is a tag
    (("a", "b"), {"a": {}}, "a.b"),  # the last step: a field the input lacks
    (("a", "static"), {"a": {"kind": "static"}}, "a.static"),  # the last step is kept even when a tag
    ((), {}, ""),
])
def test_field_path(loc, data, path):
    assert field_path(loc, data) == path


def test_unknown_source_kind():
    msg = error_of({"sources": [{"kind": "csv", "path": "x", "domain": "a"}]})
    assert msg.startswith("run.yaml: sources.0: Input tag 'csv' found using 'kind' does not match")


def test_yaml_file_errors(tmp_path):
    with pytest.raises(CurricleError, match=r"nope.yaml: no such config file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(CurricleError, match=r"run.yaml:3: not valid YAML"):
        load_config(write(tmp_path, "a: 1\nb: [1,\n"))
    with pytest.raises(CurricleError, match="expected a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(CurricleError, match="bad.yaml: not valid UTF-8"):
        load_config(p)


def test_tokenizer_kind_and_path_must_agree():
    assert "needs 'path'" in error_of({"sources": SOURCES, "tokenizer": {"kind": "pretrained"}})
    assert "only for kind 'pretrained'" in error_of({"sources": SOURCES, "tokenizer": {"path": "x"}})


def test_a_renamed_key_names_its_new_spelling():
    """``train.telemetry.trace_data`` became ``train.trace`` (the same key in every verb)."""
    msg = error_of({"sources": SOURCES, "train": {"telemetry": {"trace_data": True}}})
    assert msg == "run.yaml: train.telemetry.trace_data was renamed: use train.trace"
    assert parse_config({"sources": SOURCES, "train": {"trace": True}}).train.trace
    assert error_of({"sources": SOURCES, "train": {"telemetry": {"trace": True}}}) == \
        "run.yaml: train.telemetry.trace: unknown key"
