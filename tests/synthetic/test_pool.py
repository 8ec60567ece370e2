from collections import Counter

import pytest

from curricle.synthetic.pool import pooled_documents


def test_every_line_once_per_pass_in_fresh_orders():
    lines = [f"line {i}" for i in range(10)]
    docs = list(pooled_documents("demo", 0, lines, n_docs=5, items_per_doc=4))  # 2 passes
    assert [d for d, _ in docs] == [f"demo-0-{i}" for i in range(5)]
    out = [line for _, text in docs for line in text.splitlines()]
    assert all(text.endswith("\n") for _, text in docs)
    assert sorted(out[:10]) == sorted(lines) and sorted(out[10:]) == sorted(lines)
    assert out[:10] != out[10:]
    assert Counter(out) == Counter({line: 2 for line in lines})


def test_deterministic_and_prefix_stable():
    lines = [str(i) for i in range(7)]
    long = list(pooled_documents("demo", 1, lines, 9, 3))
    assert list(pooled_documents("demo", 1, lines, 9, 3)) == long
    assert list(pooled_documents("demo", 1, lines, 4, 3)) == long[:4]
    assert list(pooled_documents("demo", 2, lines, 9, 3)) != long


def test_empty_pool_is_an_error():
    with pytest.raises(ValueError, match="no training lines"):
        list(pooled_documents("demo", 0, [], 1, 1))
