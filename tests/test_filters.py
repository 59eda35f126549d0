"""Quality filters on LLM-made sentences: each drops what it should, is counted, can be switched off."""
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from ad_signs.cli import app
from ad_signs.filters import FilterSettings, NearDuplicateIndex, cap_unlabelled, filter_docs
from ad_signs.metrics import label_set
from ad_signs.taxonomy import load_taxonomy

NLP = spacy.blank("en")


def bronze(text, label="COGNITIVE_IMPAIRMENT", polarity="positive"):
    doc = NLP.make_doc(text)
    doc.cats = load_taxonomy().cats([label] if polarity == "positive" else [])
    doc.user_data["source"] = {"label": label, "polarity": polarity}
    return doc


DOCS = [
    bronze("Pt keeps misplacing her keys and asks the date again and again."),                     # kept
    bronze("Forgetful."),                                                                      # length: 1 word
    bronze(" ".join(["word"] * 45)),                                                           # length: 45 words
    bronze("Pt is oriented and calm 患者很好."),                                                  # language
    bronze("pt keeps misplacing her keys and asks the date again and again"),                       # exact dup (normalized)
    bronze("Pt keeps misplacing her keys and asks the date again and again, per son."),                 # near dup
    bronze("BP 142/88, HR 76, afebrile; Wife states he is more forgetful."),                   # gold copy, near
    bronze("Observed or reported deficits in memory, orientation, attention, language or word-finding."),  # definition
    bronze("**John Doe** keeps misplacing his wallet, per [**Name**]."),                       # identifiers
    bronze("Denies memory problems.", polarity="negated"),                                     # roundtrip agrees: kept
    bronze("Scored 18/30 on MoCA today.", label="COGNITIVE_ASSESSMENT"),                       # roundtrip disagrees
]
GOLD = ["BP 142/88, HR 76, afebrile; wife states he is more forgetful!"]
RELABELLED = {
    DOCS[0].text: {"COGNITIVE_IMPAIRMENT"},
    DOCS[9].text: set(),
    DOCS[10].text: {"DIAGNOSTIC_TESTS"},
}


def test_each_filter_drops_its_case_and_counts_it():
    kept, report = filter_docs(DOCS, load_taxonomy(), FilterSettings(), GOLD, RELABELLED)
    assert [d.text for d in kept] == [DOCS[0].text, DOCS[9].text]
    assert report.as_dict() == {"seen": 11, "kept": 2, "dropped": {
        "length": 2, "language": 1, "identifiers": 1, "duplicates": 3, "definition": 1, "roundtrip": 1},
        "labels_removed": {}, "unscored": 0}


def test_each_filter_alone_and_none():
    taxonomy = load_taxonomy()
    alone = {"length": 2, "language": 1, "identifiers": 1, "duplicates": 3, "definition": 1,
             "roundtrip": 9}  # roundtrip also drops the 8 sentences with no second-pass answer
    for name, dropped in alone.items():
        _, report = filter_docs(DOCS, taxonomy, FilterSettings(enabled=[name]), GOLD, RELABELLED)
        assert report.as_dict()["dropped"] == {name: dropped}
    kept, report = filter_docs(DOCS, taxonomy, FilterSettings(enabled=[]))
    assert len(kept) == len(DOCS) and not report.dropped


def test_bad_settings_say_what_to_fix():
    with pytest.raises(ValueError, match="Unknown filters"):
        filter_docs(DOCS, load_taxonomy(), FilterSettings(enabled=["lenght"]))
    with pytest.raises(ValueError, match="needs the relabelled"):
        filter_docs(DOCS, load_taxonomy(), FilterSettings(enabled=["roundtrip"]))


def test_near_duplicate_index_compares_only_candidates():
    index = NearDuplicateIndex(0.8)
    index.add("wife reports he repeats questions and gets lost driving")
    assert index.match("Wife reports he repeats questions and gets lost driving.")
    assert not index.match("Son reports she forgets her medications most days now.")


def test_filter_command_writes_kept_docs_and_counts(tmp_path):
    DocBin(docs=DOCS, store_user_data=True).to_disk(tmp_path / "bronze.spacy")
    DocBin(docs=[NLP.make_doc(t) for t in GOLD]).to_disk(tmp_path / "gold.spacy")
    runner = CliRunner()
    result = runner.invoke(app, ["filter", str(tmp_path / "bronze.spacy"), str(tmp_path / "out.spacy"),
                                 "--gold", str(tmp_path / "gold.spacy"), "--filters", "length,duplicates"])
    assert result.exit_code == 0, result.output
    assert len(DocBin().from_disk(tmp_path / "out.spacy")) == 6
    assert (tmp_path / "out.filter.json").exists()
    result = runner.invoke(app, ["filter", str(tmp_path / "bronze.spacy"), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and "needs --relabel" in result.output


def llm_labelled(text, labels, confidence):
    """A sentence as the labeling LLM returns it under choice decoding (labels and confidences)."""
    doc = NLP.make_doc(text)
    doc.cats = load_taxonomy().cats(labels)
    doc.user_data["llm_confidence"] = {label: confidence.get(label, 0.0) for label in load_taxonomy().labels}
    return doc


def test_silver_labels_below_the_dev_confidence_threshold_are_taken_off(tmp_path):
    # On dev, the LLM's DIAGNOSIS is right when confident (0.9) and wrong when not (0.3):
    # the threshold chosen for dev F1 lies between; COGNITIVE_IMPAIRMENT is always right (0.0).
    dev_texts = [f"dev sentence {i}" for i in range(6)]
    gold = [NLP.make_doc(t) for t in dev_texts]
    for doc, labels in zip(gold, [["DIAGNOSIS"], ["DIAGNOSIS"], [], [], ["COGNITIVE_IMPAIRMENT"], []]):
        doc.cats = load_taxonomy().cats(labels)
    predicted = [
        llm_labelled(dev_texts[0], ["DIAGNOSIS"], {"DIAGNOSIS": 0.9}),
        llm_labelled(dev_texts[1], ["DIAGNOSIS"], {"DIAGNOSIS": 0.95}),
        llm_labelled(dev_texts[2], ["DIAGNOSIS"], {"DIAGNOSIS": 0.3}),
        llm_labelled(dev_texts[3], ["DIAGNOSIS"], {"DIAGNOSIS": 0.35}),
        llm_labelled(dev_texts[4], ["COGNITIVE_IMPAIRMENT"], {"COGNITIVE_IMPAIRMENT": 0.2}),
        llm_labelled(dev_texts[5], [], {}),
    ]
    DocBin(docs=gold).to_disk(tmp_path / "dev.spacy")
    DocBin(docs=predicted, store_user_data=True).to_disk(tmp_path / "llm_dev.spacy")
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", str(tmp_path / "llm_dev.spacy"), str(tmp_path / "dev.spacy"),
                                 str(tmp_path / "llm_dev.json")])
    assert result.exit_code == 0, result.output
    scores = srsly.read_json(tmp_path / "llm_dev.json")
    thresholds = scores["confidence"]["thresholds"]
    assert 0.35 < thresholds["DIAGNOSIS"] <= 0.9 and thresholds["COGNITIVE_IMPAIRMENT"] == 0.0
    assert scores["per_label"]["DIAGNOSIS"]["p"] == 0.5
    assert scores["confidence"]["at_thresholds"]["per_label"]["DIAGNOSIS"]["p"] == 1.0

    silver = [llm_labelled("Dx: probable AD.", ["DIAGNOSIS"], {"DIAGNOSIS": 0.97}),
              llm_labelled("Dx unclear.", ["DIAGNOSIS", "COGNITIVE_IMPAIRMENT"], {"DIAGNOSIS": 0.2, "COGNITIVE_IMPAIRMENT": 0.1}),
              bronze("No confidence on this one.", label="DIAGNOSIS")]
    DocBin(docs=silver, store_user_data=True).to_disk(tmp_path / "silver.spacy")
    result = runner.invoke(app, ["filter", str(tmp_path / "silver.spacy"), str(tmp_path / "out.spacy"), "--filters", "",
                                 "--confidence", str(tmp_path / "llm_dev.json")])
    assert result.exit_code == 0, result.output
    kept = {doc.text: {k for k, v in doc.cats.items() if v >= 0.5} for doc in DocBin().from_disk(tmp_path / "out.spacy").get_docs(NLP.vocab)}
    assert kept == {"Dx: probable AD.": {"DIAGNOSIS"}, "Dx unclear.": {"COGNITIVE_IMPAIRMENT"},
                    "No confidence on this one.": {"DIAGNOSIS"}}
    report = srsly.read_json(tmp_path / "out.filter.json")
    assert report["labels_removed"] == {"DIAGNOSIS": 1} and report["unscored"] == 1
    dx_unclear = next(doc for doc in DocBin().from_disk(tmp_path / "out.spacy").get_docs(NLP.vocab) if doc.text == "Dx unclear.")
    assert dx_unclear.cats["DIAGNOSIS"] == 0.0  # absent: trained as a "no"

    # unknown: the unsure label leaves doc.cats, which spaCy's textcat trains as a missing value
    result = runner.invoke(app, ["filter", str(tmp_path / "silver.spacy"), str(tmp_path / "out.spacy"), "--filters", "",
                                 "--confidence", str(tmp_path / "llm_dev.json"), "--unconfident", "unknown"])
    assert result.exit_code == 0, result.output
    dx_unclear = next(doc for doc in DocBin().from_disk(tmp_path / "out.spacy").get_docs(NLP.vocab) if doc.text == "Dx unclear.")
    assert "DIAGNOSIS" not in dx_unclear.cats and dx_unclear.cats["COGNITIVE_IMPAIRMENT"] == 1.0
    # soft: every label becomes the LLM's confidence in it, a probability target (not with thresholds)
    result = runner.invoke(app, ["filter", str(tmp_path / "silver.spacy"), str(tmp_path / "out.spacy"), "--filters", "", "--soft"])
    assert result.exit_code == 0, result.output
    soft = {doc.text: doc.cats for doc in DocBin().from_disk(tmp_path / "out.spacy").get_docs(NLP.vocab)}
    assert soft["Dx unclear."]["DIAGNOSIS"] == pytest.approx(0.2) and soft["Dx unclear."]["COGNITIVE_IMPAIRMENT"] == pytest.approx(0.1)
    assert soft["Dx: probable AD."]["DIAGNOSIS"] == pytest.approx(0.97) and soft["No confidence on this one."]["DIAGNOSIS"] == 1.0
    assert srsly.read_json(tmp_path / "out.filter.json")["unscored"] == 1
    result = runner.invoke(app, ["filter", str(tmp_path / "silver.spacy"), str(tmp_path / "out.spacy"), "--filters", "", "--soft",
                                 "--confidence", str(tmp_path / "llm_dev.json")])
    assert result.exit_code != 0 and "Soft targets replace the confidence thresholds" in result.output

    result = runner.invoke(app, ["filter", str(tmp_path / "silver.spacy"), str(tmp_path / "out.spacy"), "--filters", "",
                                 "--confidence", str(tmp_path / "llm_dev.json"), "--unconfident", "maybe"])
    assert result.exit_code != 0 and "unconfident must be one of absent, unknown" in result.output

    result = runner.invoke(app, ["filter", str(tmp_path / "silver.spacy"), str(tmp_path / "out.spacy"), "--filters", "",
                                 "--confidence", str(tmp_path / "dev.spacy")])
    assert result.exit_code != 0


def test_distinct_n_compares_sets_at_one_size():
    from ad_signs.text import distinct_n, distinct_n_at

    varied = [[f"w{i}", f"v{i}"] for i in range(400)]
    repeated = [["the", "patient"]] * 400
    assert distinct_n(varied, 2) == distinct_n_at(varied, 2, 100) == 1.0
    assert distinct_n_at(repeated, 2, 100) == pytest.approx(0.01) and distinct_n_at(repeated[:50], 2, 100) == distinct_n(repeated[:50], 2)


def test_a_look_alike_passes_the_roundtrip_only_without_any_label():
    """A hard negative trains as no label at all: a negated line may still show another label
    (the generic rule asks only that its own is gone), but a look-alike, about something
    unrelated, that the second pass gives any label is a positive in disguise."""
    import spacy

    from ad_signs.filters import roundtrip_agrees

    doc = spacy.blank("en").make_doc("PT reports changes in cognition.")
    doc.user_data["source"] = {"label": "NOTICE_BY_OTHERS", "polarity": "look_alike"}
    assert roundtrip_agrees(doc, {doc.text: set()})
    assert not roundtrip_agrees(doc, {doc.text: {"COGNITIVE_IMPAIRMENT"}})


def test_roundtrip_rule_is_shared_by_the_filter_and_the_bronze_agreement():
    """scripts/data_analysis.py reports the agreement the roundtrip filter keeps on."""
    import importlib.util
    from pathlib import Path

    from ad_signs.filters import roundtrip_agrees

    assert [roundtrip_agrees(d, RELABELLED) for d in (DOCS[0], DOCS[9], DOCS[10], DOCS[1])] == [True, True, False, None]
    path = Path(__file__).resolve().parents[1] / "scripts" / "data_analysis.py"
    spec = importlib.util.spec_from_file_location("data_analysis", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    relabelled = []
    for text, labels in RELABELLED.items():
        doc = NLP.make_doc(text)
        doc.cats = load_taxonomy().cats(sorted(labels))
        relabelled.append(doc)
    out = module.bronze_agreement([DOCS[0], DOCS[9], DOCS[10], DOCS[1]], relabelled)
    assert out["positive"] == {"checked": 2, "agree": 1, "rate": 0.5}
    assert out["hard negative"] == {"checked": 1, "agree": 1, "rate": 1.0}
    assert out["all"]["checked"] == 3 and out["all"]["agree"] == 2 and out["not_relabelled"] == 1


def test_data_analysis_compares_the_confidence_of_chosen_and_other_labels():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "data_analysis.py"
    spec = importlib.util.spec_from_file_location("data_analysis", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    silver = [llm_labelled("Dx: AD.", ["DIAGNOSIS"], {"DIAGNOSIS": 0.9, "AD_TREATMENT": 0.6}),
              llm_labelled("BP 120/80.", [], {"DIAGNOSIS": 0.2}), NLP.make_doc("no confidence")]
    out = module.confidence_of_choices(silver)
    n_other = 2 * len(load_taxonomy().labels) - 1
    assert out["chosen"] == {"labels": 1, "mean": 0.9}
    assert out["not_chosen"]["labels"] == n_other and out["not_chosen"]["mean"] == pytest.approx(0.8 / n_other)
    assert out["not_chosen"]["at_least_0_5"] == pytest.approx(1 / n_other)


def test_unlabelled_sentences_are_capped_at_a_share_in_their_order():
    docs = [NLP(f"Line {i}.") for i in range(10)]
    for i, doc in enumerate(docs):
        doc.cats = {"DIAGNOSIS": 1.0 if i < 3 else 0.0}  # 3 labelled, 7 without a label
    kept, dropped = cap_unlabelled(docs, 0.5, seed=1)
    assert dropped == 4 and len(kept) == 6 and docs[:3] == kept[:3]  # 3 unlabelled left: half of 6
    assert [doc.text for doc in kept] == sorted((doc.text for doc in kept), key=lambda t: int(t.split()[1][:-1]))
    assert cap_unlabelled(docs, 0.8) == (docs, 0)  # room for 12: nothing to drop
    assert cap_unlabelled(docs, 0.5, seed=1)[0] == kept  # seeded
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        cap_unlabelled(docs, 1.0)


def test_silver_is_kept_where_the_gold_judge_agrees_with_the_llm(tmp_path):
    from ad_signs.filters import agree_with_judge
    from conftest import trained_nlp

    judge = trained_nlp()  # a real bag-of-words classifier trained on gold train
    pipe = judge.get_pipe("ad_signs")
    texts = ["Wife reports he repeats the same questions every day.", "Started donepezil 5 mg daily.",
             "Needs help with bathing and dressing.", "Chest is clear to auscultation."]
    decided = [{label for label, score in doc.cats.items() if score >= pipe.thresholds[label]} for doc in judge.pipe(texts)]
    taxonomy = load_taxonomy()
    silver = []
    for text, labels in zip(texts, decided):
        agreed = NLP.make_doc(text)
        agreed.cats = taxonomy.cats(sorted(labels))  # the LLM said what the judge says: kept
        extra = next(label for label in taxonomy.labels if label not in labels)
        disagreed = NLP.make_doc(text + " Again.")
        disagreed.cats = taxonomy.cats(sorted(labels | {extra}))  # one label the judge does not give: dropped
        silver += [agreed, disagreed]
    kept, disagreements = agree_with_judge(silver, judge)
    assert [doc.text for doc in kept] == texts
    assert sum(counts["llm_only"] for counts in disagreements.values()) == len(texts)
    assert set(disagreements) == set(taxonomy.labels)

    DocBin(docs=silver, store_user_data=True).to_disk(tmp_path / "silver.spacy")
    judge.to_disk(tmp_path / "judge")
    result = CliRunner().invoke(app, ["filter", str(tmp_path / "silver.spacy"), str(tmp_path / "out.spacy"), "--filters", "",
                                      "--agree-with", str(tmp_path / "judge")])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(tmp_path / "out.filter.json")
    assert report["kept"] == len(texts) and report["dropped"]["judge"] == len(texts) and "judge" in report["filters"]

    # data_analysis: the LLM's labels against gold, over all sentences and where the judge agrees
    import importlib.util

    spec = importlib.util.spec_from_file_location("data_analysis", Path(__file__).resolve().parents[1] / "scripts/data_analysis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gold = []
    for doc in silver[::2]:  # gold = what the judge decides: where it agrees, the LLM is exactly right
        copy = NLP.make_doc(doc.text)
        copy.cats = dict(doc.cats)
        gold.append(copy)
    llm = [silver[0], silver[2].copy(), *silver[4::2]]
    llm[1].cats = dict(silver[3].cats)  # wrong on one sentence (a label too many): the judge disagrees
    noise = module.judge_agreement(llm, gold, {}, judge, taxonomy.labels)
    assert noise["all"]["sentences"] == 4 and noise["all"]["exact_match"] == 0.75
    assert noise["judge_agrees"] == {**noise["judge_agrees"], "sentences": 3, "exact_match": 1.0}
    assert noise["judge_agrees"]["micro"]["p"] == 1.0 and noise["all"]["micro"]["p"] < 1.0

    # confirmed at the judge's screening point: an LLM label whose score reaches it is not held against the LLM
    scores = [doc.cats for doc in judge.pipe(texts)]
    screening = {label: min(scores[0][label], pipe.thresholds[label]) for label in taxonomy.labels}
    judge.get_pipe("ad_signs").cfg["operating_points"] = {"f1": dict(pipe.thresholds), "screening": screening}
    likely = max((label for label in taxonomy.labels if label not in decided[0]), key=lambda label: scores[0][label])
    confirmed = NLP.make_doc(texts[0])
    confirmed.cats = taxonomy.cats(sorted(decided[0] | {likely}))  # a label the judge finds likely but does not decide
    assert agree_with_judge([confirmed], judge)[0] == []
    assert [doc.text for doc in agree_with_judge([confirmed], judge, confirm_at="screening")[0]] == [texts[0]]
    assert len(agree_with_judge(silver, judge, confirm_at="screening")[0]) >= len(texts)
    with pytest.raises(ValueError, match="no operating point 'recall'"):
        agree_with_judge(silver, judge, confirm_at="recall")

    unknown = NLP.make_doc("A sentence with a label from another taxonomy.")
    unknown.cats = {"OTHER_LABEL": 1.0}
    with pytest.raises(ValueError, match="OTHER_LABEL"):
        agree_with_judge([unknown], judge)


def test_bronze_written_for_one_label_gains_the_co_labels_the_judge_gives():
    from ad_signs.filters import agree_with_judge
    from conftest import trained_nlp

    judge = trained_nlp()
    pipe = judge.get_pipe("ad_signs")
    taxonomy = load_taxonomy()
    candidates = ["Wife reports he repeats the same questions every day.", "Husband notes she has become agitated and forgetful.",
                  "Daughter says she gets lost driving and now needs help with her medications.",
                  "MoCA 18/30; started donepezil 5 mg daily.", "MRI shows hippocampal atrophy consistent with Alzheimer's dementia."]
    decided = {doc.text: {label for label, score in doc.cats.items() if score >= pipe.thresholds[label]} for doc in judge.pipe(candidates)}
    text, labels = next((text, labels) for text, labels in decided.items() if len(labels) >= 2)
    written_for = sorted(labels)[0]

    def generated(label: str, polarity: str = "positive") -> Doc:
        doc = NLP.make_doc(text)
        doc.cats = taxonomy.cats([label] if polarity == "positive" else [])
        doc.user_data["source"] = {"label": label, "polarity": polarity}
        return doc

    positive = generated(written_for)
    assert agree_with_judge([positive], judge)[0] == []  # equal label sets: one label short, dropped
    kept, counts = agree_with_judge([positive], judge, complete=True)
    assert [label_set(doc) for doc in kept] == [labels] and label_set(positive) == {written_for}  # a completed copy
    assert sum(c["completed"] for c in counts.values()) == len(labels) - 1
    assert sum(c["llm_only"] + c["judge_only"] for c in counts.values()) == 0
    missing = next(label for label in taxonomy.labels if label not in labels)
    assert agree_with_judge([generated(missing)], judge, complete=True)[0] == []  # its own label not given: dropped
    assert agree_with_judge([generated(written_for, "negated")], judge, complete=True)[0] == []  # a negative stays exact
    silver = NLP.make_doc(text)  # labelled by the LLM against every label: its "no" counts, not completed
    silver.cats = taxonomy.cats([written_for])
    assert agree_with_judge([silver], judge, complete=True)[0] == []
