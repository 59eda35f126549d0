"""The command line on bad input: one clear message, exit code 1, no traceback, no model load."""
import os
import re
import subprocess
import sys

from spacy.tokens import DocBin

from conftest import ROOT


def run(*args):
    result = subprocess.run([sys.executable, "-m", "ad_signs", *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    result.stdout = " ".join(result.stdout.split())  # wasabi wraps long messages
    return result


def test_bad_inputs_fail_with_a_message(tmp_path):
    cases = {
        "missing.jsonl": "Input not found",
        "notes.xlsx": "unsupported format '.xlsx'",
        "nocol.csv": "none of the text fields",
        "broken.jsonl": "line 2: not valid JSON",
        "empty.jsonl": "holds no records",
    }
    (tmp_path / "notes.xlsx").write_bytes(b"PK")
    (tmp_path / "nocol.csv").write_text("id,body\n1,x\n")
    (tmp_path / "broken.jsonl").write_text('{"text": "a"}\n{oops\n')
    (tmp_path / "empty.jsonl").write_text("")
    for name, message in cases.items():
        result = run("label", tmp_path / name, tmp_path / "out.spacy")
        assert result.returncode == 1, (name, result.stderr)
        assert message in result.stdout + result.stderr and "Traceback" not in result.stderr, name


def test_bad_arguments_fail_before_the_model_loads(tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"text": "Pt confused."}\n')
    docbin = tmp_path / "in.spacy"
    docbin.write_bytes(b"")
    valid = tmp_path / "valid.spacy"
    DocBin().to_disk(valid)
    (tmp_path / "no_model").mkdir()
    cases = [
        (("label", notes, notes), "give the path of a .spacy file"),
        (("label", docbin, docbin), "is also the input"),
        (("label", notes, tmp_path), "give the path of a .spacy file"),
        (("label", notes, tmp_path / "out.spacy", "--limit", "-1"), "--limit must be 0 or more"),
        (("generate", tmp_path / "b.spacy", "--negatives-per-label", "-2"), "--negatives-per-label must be 0 or more"),
        (("merge", docbin, docbin), "is also the input"),
        (("filter", docbin, docbin, "--filters", "length"), "is also the input"),
        (("corpus", notes, notes), "give the path of a .spacy file"),
        (("corpus", docbin, docbin), "is also the input"),
        (("annotate", tmp_path, notes, notes), "is also the input"),
        (("annotate", "no_such_pipeline", notes, tmp_path / "f.jsonl"), "no_such_pipeline: no such pipeline"),
        (("label", notes, tmp_path / "out.spacy", "--rejects", notes), "is also the input or another output"),
        (("label", notes, tmp_path / "out.spacy", "--cache", notes), "is also the input or another output"),
        (("generate", tmp_path / "b.spacy", "--rejects", tmp_path / "b.spacy"), "is also the input or another output"),
        (("label", notes, tmp_path / "out.spacy", "--unit", "paragraph"), "--unit must be 'note' or 'sentence'"),
        (("generate", tmp_path / "b.spacy", "--per-label", "0", "--negatives-per-label", "0"), "Nothing to generate"),
        (("evaluate", docbin, docbin, tmp_path), "give the path of a .json file"),
        (("evaluate", docbin, docbin, tmp_path / "m.json", "--limit", "-1"), "--limit must be 0 or more"),
        (("evaluate", docbin, notes, tmp_path / "m.json"), "not a spaCy DocBin"),
        (("evaluate", tmp_path / "no_model", valid, tmp_path / "m.json"), "not a trained pipeline"),
    ]
    for args, message in cases:
        llm = ("--paths.gguf", tmp_path / "none.gguf") if args[0] in ("label", "generate") else ()  # a model load fails otherwise
        result = run(*args, *llm)
        assert result.returncode == 1 and message in result.stdout and "Traceback" not in result.stderr, (args, result.stdout)
    assert docbin.read_bytes() == b"" and notes.read_text() == '{"text": "Pt confused."}\n'
    for command in (("label", notes, tmp_path / "out.spacy"), ("generate", tmp_path / "b.spacy")):
        for share in ("0", "-3", "1.5"):
            result = run(*command, "--max-reject-share", share, "--paths.gguf", tmp_path / "none.gguf")
            assert result.returncode == 1 and "--max-reject-share must be above 0 and at most 1" in result.stdout, result.stdout


def test_unknown_label_and_broken_taxonomy(tmp_path):
    result = run("generate", tmp_path / "b.spacy", "--labels", "MEMORY_LOSS")
    assert result.returncode == 1 and "Unknown label(s) ['MEMORY_LOSS']" in result.stdout
    result = run("generate", tmp_path / "b.spacy", "--labels", "DIAGNOSIS=many")
    assert result.returncode == 1 and "the amount after '=' must be a whole number" in result.stdout
    result = run("generate", tmp_path / "b.spacy", "--labels", "DIAGNOSIS=5,MEMORY_LOSS=3")
    assert result.returncode == 1 and "Unknown label(s) ['MEMORY_LOSS']" in result.stdout
    result = run("generate", tmp_path / "b.spacy", "--negative-kinds", "negated,sarcastic")
    assert result.returncode == 1 and "Hard-negative kinds ['sarcastic']: choose from negated" in result.stdout
    result = run("generate", tmp_path / "b.spacy", "--paths.gguf", tmp_path / "none.gguf")
    assert result.returncode == 1 and "GGUF model file not found" in result.stdout
    (tmp_path / "tax.yml").write_text("name: x\n")
    result = run("generate", tmp_path / "b.spacy", "--paths.taxonomy", tmp_path / "tax.yml")
    assert result.returncode == 1 and "missing required key 'labels'" in result.stdout, result.stdout + result.stderr


def test_generate_labels_take_their_own_amounts():
    import pytest

    from ad_signs.cli import _label_counts
    from ad_signs.taxonomy import UnknownLabelError, load_taxonomy

    taxonomy = load_taxonomy()
    assert _label_counts(None, 20, taxonomy) == dict.fromkeys(taxonomy.labels, 20)
    assert _label_counts("DIAGNOSIS=500, PHYSIOLOGICAL_CHANGES", 20, taxonomy) == {"DIAGNOSIS": 500, "PHYSIOLOGICAL_CHANGES": 20}
    assert _label_counts("NOTICE_BY_OTHERS+COGNITIVE_IMPAIRMENT=60", 20, taxonomy) == {"NOTICE_BY_OTHERS+COGNITIVE_IMPAIRMENT": 60}
    with pytest.raises(UnknownLabelError, match="NOTICED"):
        _label_counts("NOTICE_BY_OTHERS+NOTICED=60", 20, taxonomy)


def test_help_lists_every_command_with_its_summary():
    import typer.main

    from ad_signs.cli import app

    result = subprocess.run([sys.executable, "-m", "ad_signs", "--help"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "200", "TERM": "dumb"})
    commands = typer.main.get_command(app).commands
    assert {"label", "generate", "corpus", "merge", "filter", "evaluate", "annotate", "progression", "model"} <= set(commands)
    for name, command in commands.items():
        summary = (command.help or "").split("\n")[0].strip()
        line = next((line for line in result.stdout.splitlines() if re.search(rf"(^|\W){name}\s{{2,}}", line)), None)
        assert line is not None, f"{name} is not listed:\n{result.stdout}"
        assert summary[:30] in line, (name, summary, line)


def endpoint_config(tmp_path):
    """components/ad_signs/configs/llm_label.cfg with its model block replaced by components/ad_signs/configs/llm_endpoint.cfg's, as the
    endpoint file tells users to do."""
    label = (ROOT / "components/ad_signs/configs/llm_label.cfg").read_text()
    endpoint = (ROOT / "components/ad_signs/configs/llm_endpoint.cfg").read_text()
    path = tmp_path / "llm_endpoint_label.cfg"
    block = "\n[components.llm.model]\n"
    path.write_text(label[: label.index(block)] + endpoint[endpoint.index(block):])
    return path


def test_patient_data_stays_on_the_machine_unless_allowed(tmp_path):
    (tmp_path / "NOTEEVENTS.csv").write_text('ROW_ID,SUBJECT_ID,TEXT\n1,42,"Pt confused, wife worried."\n')
    config = endpoint_config(tmp_path)
    remote = ("--components.llm.model.base_url", "http://192.0.2.1:8000/v1", "--components.llm.model.timeout", "0.2",
              "--components.llm.model.max_retries", "0")
    refused = run("label", tmp_path / "NOTEEVENTS.csv", tmp_path / "out.spacy", "--config", config, *remote)
    assert refused.returncode == 1 and "is patient data" in refused.stdout and "--allow-remote" in refused.stdout
    assert not (tmp_path / "out.rejects.jsonl").exists() and not (tmp_path / "out.spacy").exists()  # nothing was asked
    (tmp_path / "out.spacy").write_bytes(b"an earlier run's output")
    allowed = run("label", tmp_path / "NOTEEVENTS.csv", tmp_path / "out.spacy", "--config", config, *remote, "--allow-remote")
    # it did try (an unroutable address): every request failed, so the run fails and writes nothing
    assert allowed.returncode == 1 and "1 of 1 answers rejected" in allowed.stdout and "out.spacy not written" in allowed.stdout
    assert (tmp_path / "out.spacy").read_bytes() == b"an earlier run's output" and (tmp_path / "out.rejects.jsonl").exists()


def test_patient_data_is_found_in_any_record(tmp_path):
    notes = tmp_path / "notes.jsonl"  # the first record says nothing of patients, the second does
    notes.write_text('{"text": "Authored sentence."}\n{"text": "Pt confused.", "subject_id": 42}\n')
    remote = ("--config", endpoint_config(tmp_path), "--components.llm.model.base_url", "http://192.0.2.1:8000/v1",
              "--components.llm.model.timeout", "0.2", "--components.llm.model.max_retries", "0")
    refused = run("label", notes, tmp_path / "out.spacy", *remote)
    assert refused.returncode == 1 and "record notes:2, sentence 0 is patient data" in refused.stdout, refused.stdout + refused.stderr
    assert not (tmp_path / "out.spacy").exists()


def test_sentences_of_patient_notes_stay_patient_data_in_a_docbin(fake_llm_factory, tmp_path):
    import pytest

    from ad_signs.llm.batch_runner import PatientDataError, guard_patient_data
    from ad_signs.readers import Record, read_records, sentence_docs, write_docs
    from conftest import FakeLLM

    llm = FakeLLM({})
    llm.host = ""  # in this process, as the default model
    nlp = fake_llm_factory({"@llm_tasks": "ad_signs.LabelSentences.v1", "examples": None}, llm)
    docs = list(sentence_docs(nlp, [Record("n1", "Pt confused. Wife worried.", sensitive=True), Record("a1", "Authored.")]))
    write_docs(docs, tmp_path / "silver.spacy")
    assert [r.sensitive for r in read_records(tmp_path / "silver.spacy")] == [True, True, False]
    assert len(list(guard_patient_data(read_records(tmp_path / "silver.spacy"), nlp))) == 3
    llm.host = "gpu.example.org"
    with pytest.raises(PatientDataError, match="silver:0 is patient data"):
        list(guard_patient_data(read_records(tmp_path / "silver.spacy"), nlp))
    assert len(list(guard_patient_data(read_records(tmp_path / "silver.spacy"), nlp, allow_remote=True))) == 3


def test_loopback_is_on_the_machine():
    from ad_signs.llm.models import is_off_machine

    assert [is_off_machine(h) for h in ("", "localhost", "127.0.0.1", "::1", "10.0.0.5", "gpu.example.org")] == [
        False, False, False, False, True, True]


def test_label_docs_guards_patient_data_for_python_callers_too(fake_llm_factory, tmp_path):
    """The guard is in the labeling API, not only in the command: a Python caller of label_docs
    cannot send a sentence of a patient note off the machine, wherever it sits in the stream."""
    import pytest

    from ad_signs.llm.batch_runner import PatientDataError, label_docs
    from ad_signs.readers import Record, sentence_docs
    from conftest import FakeLLM

    llm = FakeLLM({})
    llm.host = "gpu.example.org"
    nlp = fake_llm_factory({"@llm_tasks": "ad_signs.LabelSentences.v1", "examples": None}, llm)
    records = [Record("a1", "Authored sentence."), Record("n7", "Pt confused. Wife worried.", sensitive=True)]
    with pytest.raises(PatientDataError, match="n7, sentence 0 is patient data"):
        label_docs(nlp, sentence_docs(nlp, records), tmp_path / "rejects.jsonl")
    with pytest.raises(PatientDataError, match="a1, sentence 0 is patient data"):  # the caller says all of it is
        label_docs(nlp, sentence_docs(nlp, records[:1]), tmp_path / "rejects.jsonl", sensitive=True)
    docs, summary = label_docs(nlp, sentence_docs(nlp, records), tmp_path / "rejects.jsonl", allow_remote=True)
    assert summary.items == 3


def test_folders_and_counts_that_cannot_work_are_usage_errors(tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"text": "Pt confused."}\n')
    cases = [
        (("label", notes, tmp_path / "out.spacy", "--cache", tmp_path), "is a directory"),
        (("label", notes, tmp_path / "out.spacy", "--rejects", tmp_path), "is a directory"),
        (("generate", tmp_path / "b.spacy", "--cache", tmp_path), "is a directory"),
        (("annotate", "no_such_pipeline", notes, tmp_path / "f.jsonl", "--n-process", "0"), "greater than or equal to 1"),
        (("annotate", "no_such_pipeline", notes, tmp_path / "f.jsonl", "--batch-size", "-5"), "greater than or equal to 1"),
    ]
    for args, message in cases:
        result = run(*args)
        said = " ".join(result.stderr.replace("│", " ").split())  # typer draws a box and wraps it
        assert result.returncode == 2 and message in said and "Traceback" not in result.stderr, (args, said)


def test_an_interrupted_llm_run_says_what_is_kept_and_how_to_resume(fake_llm_factory, tmp_path, capsys):
    import pytest

    from ad_signs.cli import _resumable
    from conftest import FakeLLM

    nlp = fake_llm_factory({"@llm_tasks": "ad_signs.LabelSentences.v1", "examples": None}, FakeLLM({}))
    with pytest.raises(SystemExit) as stop:
        with _resumable(nlp, tmp_path / "out.spacy", tmp_path / "out.cache.sqlite"):
            raise KeyboardInterrupt
    said = " ".join(capsys.readouterr().out.split())
    assert stop.value.code == 130 and "out.cache.sqlite" in said and "out.spacy was not written" in said and "resume" in said
    assert not (tmp_path / "out.spacy").exists()
