import numpy as np

from curricle.probes import SuiteConfig, builtin_tasks, check_contamination, parse_task
from curricle.probes.contamination import occurs
from curricle.store import DomainEntry, DomainSplitWriter, SplitCounts, TokenStore, read_manifest, write_manifest


def test_a_planted_item_is_caught():
    tasks = builtin_tasks(SuiteConfig(n=20, tasks=["arithmetic", "reverse"]))
    planted = tasks[1].items[7]
    texts = ["some unrelated prose\n", f"notes\n{planted.prompt}{planted.target}\nmore notes\n", "1+1=2\n"]
    report = check_contamination(texts, tasks)
    assert report.hits == [("reverse", planted.id, "text")]
    assert not report.clean and report.by_task() == {"reverse": 1}
    assert report.items_checked == 40 and report.texts_checked == 3
    assert check_contamination(["nothing here\n"], tasks).clean


def test_in_sample_tasks_are_checked_but_kept_apart():
    tasks = builtin_tasks(SuiteConfig(n=20, tasks=["arithmetic", "reverse"], levels={"arithmetic": ["1"]}))
    one, reverse = tasks
    assert one.in_sample and not reverse.in_sample
    texts = [i.text + "\n" for i in one.items] + [reverse.items[0].text + "\n"]
    report = check_contamination(texts, tasks)
    assert report.in_sample == {"arithmetic@1"} and len(report.expected) == 20
    assert report.leaks == [("reverse", reverse.items[0].id, "text")] and not report.clean
    assert check_contamination(texts[:-1], tasks).clean  # in-sample hits alone are no contamination


def test_items_inside_longer_numbers_or_words_do_not_count():
    assert not occurs("5+4=9", "95+4=99")
    assert occurs("5+4=9", "x 5+4=9\n")
    assert occurs("5+4=9", "5+4=9")
    assert not occurs("reverse: ab -> ba", "reverse: ab -> bad")
    assert occurs("close: ( -> )", "close: ( -> ))")  # punctuation may touch punctuation


def test_the_training_store_has_no_generator_probe_items(probe_run):
    """The fixture store trains on arithmetic and copy documents: their held-out items are
    never in it; a task made of its *train* items is found."""
    _, data_dir = probe_run
    tasks = builtin_tasks(SuiteConfig(n=50, tasks=["arithmetic", "copy"]))
    assert check_contamination(data_dir, tasks).clean
    from curricle.synthetic import make_generator

    trained = make_generator("arithmetic", 0).items("train", 2000)
    store = TokenStore(data_dir)
    text = store.load_tokenizer().decode(store.split("arithmetic", "train").tokens.tolist())
    leaked = [i for i in trained if occurs(i.text, text)][:3]
    assert leaked  # some train items are in the store...
    task = parse_task({"task": "leak", "output_type": "multiple_choice", "items": [
        {"prompt": i.prompt, "target": i.target, "distractors": list(i.distractors)} for i in leaked]}, "t")
    report = check_contamination(data_dir, [task])
    assert [(t, w) for t, _, w in report.hits] == [("leak", "arithmetic")] * 3  # ...and found, with the domain


def test_a_planted_item_in_a_store_is_caught(tmp_path, probe_run):
    """Write a store whose train split holds one held-out item among other text."""
    import shutil

    _, data_dir = probe_run
    tokenizer = TokenStore(data_dir).load_tokenizer()
    task = builtin_tasks(SuiteConfig(n=10, tasks=["brackets"]))[0]
    item = task.items[3]
    root = tmp_path / "store"
    manifest = read_manifest(data_dir)
    shutil.copytree(data_dir / manifest.tokenizer.dir, root / manifest.tokenizer.dir)
    counts = {}
    for split, docs in (("train", ["hello world\n", f"look: {item.text}\n"]), ("heldout", ["bye\n"])):
        w = DomainSplitWriter(root / "store" / "web" / split, np.uint16, tokenizer.eos_token_id)
        for i, d in enumerate(docs):
            w.add(np.asarray(tokenizer(d).input_ids), {"doc_id": f"{split}-{i}", "n_tokens": 0})
        counts[split] = SplitCounts(**w.close())
    manifest.domains = {"web": DomainEntry(dir="store/web", group="web", **counts)}
    write_manifest(root, manifest)
    report = check_contamination(root, [task])
    assert report.hits == [("brackets", item.id, "web")]
