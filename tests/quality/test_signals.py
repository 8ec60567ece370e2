"""The quality model's signals on literal texts, and the combiner that weighs them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams
from pydantic import ValidationError

from curricle.curate.words import PROSE_WORD
from curricle.errors import CurricleError
from curricle.quality.classifier import QualityClassifier, auc, fasttext_logit, lm_sample, train
from curricle.quality import signals
from curricle.quality.config import QualityTrainConfig
from curricle.quality.signals import (DUP_NGRAMS, GOPHER_NAMES, ReferenceLM, dup_ngram_chars, gopher_signals, lm_words,
                                      top_ngram_chars)
from curricle.sources.python_prose import PythonProseConfig, PythonProseSource

from tests.curate.conftest import make_prose
from tests.quality.corpus import junk

SMALL = QualityTrainConfig(dim=16, bucket=20_000)


def test_the_reference_model_is_interpolated_kneser_ney_by_its_formula():
    """Two documents, "a b" and "a c": bigrams (<s>,a) x2, (a,b), (b,</s>), (a,c), (c,</s>);
    N = 5 distinct bigrams, V = 4 words with a predecessor, so pc(w) = (N(w) + 1) / 10."""
    lm = ReferenceLM.fit(["A b", "a  c"])
    pc = {"a": 0.2, "b": 0.2, "c": 0.2, "</s>": 0.3}
    assert {w: math.exp(v) for w, v in lm.unigram.items()} == pytest.approx(pc)
    assert math.exp(lm.unknown) == pytest.approx(0.1)
    # p(b | a) = max(c(a b) - d, 0) / c(a) + d T(a) / c(a) pc(b), d = 0.75
    p_a = (2 - 0.75) / 2 + 0.75 * 1 / 2 * 0.2        # after <s>: 0.7
    p_b = (1 - 0.75) / 2 + 0.75 * 2 / 2 * 0.2        # after a: 0.275
    p_end = (1 - 0.75) / 1 + 0.75 * 1 / 1 * 0.3      # after b: 0.475
    bigram, unigram = lm.signals("a b")
    assert bigram == pytest.approx((math.log(p_a) + math.log(p_b) + math.log(p_end)) / 3)
    assert unigram == pytest.approx((math.log(0.2) * 2 + math.log(0.3)) / 3)
    # Unseen bigrams back off: p(b | <s>) = d T(<s>) / c(<s>) pc(b); after an unknown word, pc.
    bigram, _ = lm.signals("b zzz")
    assert bigram == pytest.approx((math.log(0.75 / 2 * 0.2) + math.log(0.75 * 0.1) + math.log(0.3)) / 3)
    # A distribution: every context's probabilities over the words and the unknown sum to 1.
    for ctx in ("<s>", "a", "b", "c"):
        total = sum(math.exp(lm.bigram.get((ctx, w), lm.backoff[ctx] + lm.unigram[w])) for w in pc)
        assert total + math.exp(lm.backoff[ctx] + lm.unknown) == pytest.approx(1.0)
    again = ReferenceLM.from_json(lm.to_json())
    assert (again.unigram, again.unknown, again.backoff, again.bigram) == (lm.unigram, lm.unknown, lm.backoff, lm.bigram)


def test_word_order_moves_the_bigram_signal_and_not_the_unigram_one():
    lm = ReferenceLM.fit([make_prose(s) for s in range(50)])
    text = make_prose(500)
    words = text.split()
    shuffled = " ".join(words[i] for i in np.random.default_rng(0).permutation(len(words)))
    (b1, u1), (b2, u2) = lm.signals(text), lm.signals(shuffled)
    assert b1 > b2 + 1.0  # over a nat per word more probable in order
    assert u1 == pytest.approx(u2, abs=0.02)  # the same words ("." ends a word once either way)
    assert lm_words("Don't STOP.") == ["don't", "stop", "."]


def test_gophers_statistics_of_a_literal_repetition():
    """"a b c d e a b c d e": 10 words, 19 characters. The top 2-gram is "a b" twice (3 chars
    each), the 5-gram "abcde" comes again at word 5 (5 characters), no 6-gram repeats."""
    s = dict(zip(GOPHER_NAMES, gopher_signals("a b c d e a b c d e")))
    assert s["top_2_gram_char_share"] == 6 / 19
    assert s["top_3_gram_char_share"] == 10 / 19  # "a b c" twice, 5 characters each
    assert s["dup_5_gram_char_share"] == 5 / 19
    assert s["dup_6_gram_char_share"] == 0.0
    assert (s["dup_line_share"], s["log_words"], s["mean_word_chars"]) == (0.0, math.log1p(10), 1.0)
    assert (s["distinct_word_share"], s["alpha_word_share"]) == (0.5, 1.0)
    lines = dict(zip(GOPHER_NAMES, gopher_signals("same line\nsame line\n\nother 42 !")))
    assert lines["dup_line_share"] == 1 / 3 and lines["dup_line_char_share"] == 9 / 31  # 31 characters
    assert lines["alpha_word_share"] == 5 / 7  # of 7 words, "42" and "!" have no letter
    assert gopher_signals("") == [0.0] * len(GOPHER_NAMES)


def own_words_junk(seeds: range) -> list[str]:
    """Junk made of the reference's own words: shuffled prose and a repeated phrase."""
    return [junk(s) for s in seeds if s % 3]


def test_the_signals_see_junk_made_of_the_reference_words_that_fasttext_misses():
    """Trained DCLM's way, reference documents against a corpus sample that is half reference
    (100 documents) and half junk made of reference words (100). On unseen documents, fastText
    alone ranks some junk above some reference documents; with the reference model's perplexity
    and Gopher's statistics every reference document ranks above every junk one (exact
    training, so these are fixed numbers)."""
    pos = [make_prose(s) for s in range(200)]
    neg = [make_prose(s) for s in range(5000, 5100)] + own_words_junk(range(150))
    test_pos, test_neg = [make_prose(s) for s in range(1000, 1100)], own_words_junk(range(1000, 1150))
    labels = np.r_[np.ones(len(test_pos), bool), np.zeros(len(test_neg), bool)]
    alone = train(pos, neg, SMALL.model_copy(update={"features": ["fasttext"]})).classifier
    both = train(pos, neg, SMALL).classifier
    assert auc(labels, alone.scores(test_pos + test_neg)) < 0.99
    assert auc(labels, both.scores(test_pos + test_neg)) == 1.0
    assert "combiner" not in alone.info and alone.features == ["fasttext"] and alone.info["learner"] == "fasttext"


def test_the_score_is_the_logistic_regression_on_the_standardized_signals():
    pos = [make_prose(s) for s in range(60)]
    neg = [make_prose(s) for s in range(5000, 5030)] + own_words_junk(range(45))
    clf = train(pos, neg, SMALL.model_copy(update={"folds": 3})).classifier
    c = clf.info["combiner"]
    assert c["signals"] == ["fasttext_logit", "lm_bigram_logprob", "lm_unigram_logprob", *GOPHER_NAMES]
    assert (c["kind"], c["C"], c["folds"]) == ("logistic-regression", 1.0, 3)
    assert clf.info["learner"] == "logistic-regression on signals"
    texts = [make_prose(7777), junk(7778)]
    rows = [[fasttext_logit(clf.fasttext_probability(t)), *clf.lm.signals(t), *gopher_signals(t)] for t in texts]
    z = ((np.array(rows) - c["mean"]) / c["scale"]) @ c["coef"] + c["intercept"]
    assert clf.scores(texts) == pytest.approx(1 / (1 + np.exp(-z)))
    assert clf.score(texts[0]) == pytest.approx(float(1 / (1 + np.exp(-z[0]))))


def test_features_without_fasttext_write_no_fasttext_model(tmp_path):
    pos = [make_prose(s) for s in range(40)]
    neg = own_words_junk(range(60))
    result = train(pos, neg, SMALL.model_copy(update={"features": ["perplexity", "gopher"]}))
    path = tmp_path / "m.zip"
    result.classifier.save(path)
    loaded = QualityClassifier.load(path)
    assert loaded.info["combiner"]["signals"][:2] == ["lm_bigram_logprob", "lm_unigram_logprob"]
    assert "fasttext" not in loaded.info and loaded._model is None
    texts = [make_prose(900), junk(901)]
    assert loaded.scores(texts).tolist() == result.classifier.scores(texts).tolist()


@pytest.mark.parametrize("features, message", [([], "at least 1 item"),
                                               (["fasttext", "fasttext"], "each feature at most once"),
                                               (["kenlm"], "'fasttext', 'perplexity' or 'gopher'")])
def test_bad_features_are_refused(features, message):
    with pytest.raises(ValidationError, match=message):
        QualityTrainConfig(features=features)


def test_the_top_ngram_share_equals_datatroves_on_real_prose_and_junk():
    """curricle counts word tuples where datatrove joins strings: the same numbers, on 300 of
    the standard library's docstrings and the planted junk."""
    docs = PythonProseSource(PythonProseConfig(domain="prose", parts=["docstrings"]))
    texts = [d.text for _, d in zip(range(300), docs)] + [junk(s) for s in range(60)] + ["", "one"]
    for text in texts:
        words = PROSE_WORD.findall(text)
        for n in (2, 3, 4):
            grams = get_n_grams(words, n)
            assert top_ngram_chars(words, n) == (find_top_duplicate(grams) if grams else 0)


def test_the_duplicated_ngram_chars_equal_datatroves_on_real_prose_junk_and_joins_that_collide():
    """The hashed walk gives datatrove's ``find_all_duplicate`` exactly: on 300 docstrings (half
    repeat some 5-gram), the planted junk, n-grams that differ as words but join to the same
    string (datatrove joins with no separator, so "ab c" repeats "a bc"), long runs, non-ASCII
    words and texts shorter than n."""
    docs = PythonProseSource(PythonProseConfig(domain="prose", parts=["docstrings"]))
    rng = np.random.default_rng(0)
    words = [PROSE_WORD.findall(d.text) for _, d in zip(range(300), docs)]
    words += [PROSE_WORD.findall(junk(s)) for s in range(60)]
    words += [list(rng.choice(["a", "b", "ab", "ba", "c"], size=int(rng.integers(0, 200)))) for _ in range(100)]
    words += [[], ["x"], ["w"] * 3000, ["ab", "c", "a", "bc"] * 5, ["é", "日本", "語", "ü"] * 20,
              ["", "a", "", "b", ""] * 6, ["\ud800", "x", "y", "z", "w"] * 4]  # empty words, a lone surrogate
    counted = 0
    for w in words:
        expected = [find_all_duplicate(w, n) for n in DUP_NGRAMS]
        assert dup_ngram_chars(w, DUP_NGRAMS) == expected, w[:12]
        counted += expected[0] > 0
    assert counted > 200  # the walk, not only the no-repeat shortcut, was checked
    assert dup_ngram_chars(["ab", "c", "x", "y", "z", "a", "bc", "x", "y", "z"], [5]) == [6]


def test_a_text_longer_than_the_kept_hash_powers_gets_its_own(monkeypatch):
    monkeypatch.setattr(signals, "MAX_KEPT_POWERS", 64)
    monkeypatch.setattr(signals, "_powers", [])
    short, long = ["ab", "cd"] * 10, ["ab", "cd", "e"] * 200
    assert dup_ngram_chars(short, DUP_NGRAMS) == [find_all_duplicate(short, n) for n in DUP_NGRAMS]
    kept = len(signals._powers[0])
    assert dup_ngram_chars(long, DUP_NGRAMS) == [find_all_duplicate(long, n) for n in DUP_NGRAMS]
    assert len(signals._powers[0]) == kept <= 64  # the long text's powers were not kept


def test_the_reference_model_reads_at_most_perplexity_max_docs():
    texts = [make_prose(s) for s in range(30)]
    cfg = SMALL.model_copy(update={"perplexity_max_docs": 7})
    a = lm_sample(texts, cfg, np.random.default_rng(0))
    assert len(a) == 7 and a == sorted(a, key=texts.index)  # a sample, in order
    assert a == lm_sample(texts, cfg, np.random.default_rng(0))  # seeded
    assert lm_sample(texts, SMALL, np.random.default_rng(0)) is texts  # under the cap: all of them
    capped = train(texts, own_words_junk(range(45)), cfg).classifier.lm
    whole = train(texts, own_words_junk(range(45)), SMALL).classifier.lm
    assert len(capped.bigram) < len(whole.bigram)


def test_every_signal_reads_max_chars_and_an_empty_text_scores_zero():
    pos = [make_prose(s) for s in range(40)]
    neg = own_words_junk(range(60))
    clf = train(pos, neg, SMALL.model_copy(update={"max_chars": 40})).classifier
    # The reference model saw only the first 40 characters of each training positive.
    assert set(clf.lm.unigram) <= {w for t in pos for w in lm_words(t[:40])} | {"</s>"}
    long = make_prose(4242)
    assert clf.score(long) == clf.score(long[:40])
    assert clf.scores(["", "  \n ", long]).tolist()[:2] == [0.0, 0.0]


def test_too_few_documents_for_the_folds_is_one_line():
    with pytest.raises(CurricleError, match=r"^quality train: cross-fitting the signals in 5 folds needs at least 5 "
                                            r"training documents of each class \(got 3 positive, 9 negative"):
        train([make_prose(s) for s in range(4)], own_words_junk(range(15)), SMALL)
    train([make_prose(s) for s in range(4)], own_words_junk(range(15)), SMALL.model_copy(update={"folds": 3}))
