import pytest

from ad_signs.llm import model_file
from ad_signs.llm.model_file import ModelFileError, resolve_model_path, verify


def test_default_parts_are_installed_in_order():
    parts = model_file.locate_parts()
    assert len(parts) == 22 and parts[0].name == "part01.bin" and parts[-1].name == "part22.bin"
    assert sum(p.stat().st_size for p in parts) == model_file.DEFAULT_MODEL_SIZE


def test_sha_mismatch_says_how_to_fix(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelFileError, match="(?s)SHA-256 mismatch.*model fetch"):
        verify(gguf, "0" * 64)
    digest = model_file.sha256_of(gguf)
    assert verify(gguf, digest) == gguf and (tmp_path / "m.gguf.verified").exists()
    gguf.write_bytes(b"GGUF" + b"\1" * 64)  # changed after verification: checked again
    with pytest.raises(ModelFileError, match="mismatch"):
        verify(gguf, digest)


def test_user_model_path_and_env_var(tmp_path, monkeypatch):
    gguf = tmp_path / "other.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 8)
    assert resolve_model_path(gguf) == gguf
    monkeypatch.setenv(model_file.ENV_MODEL_PATH, str(gguf))
    assert resolve_model_path() == gguf
    (tmp_path / "x.bin").write_bytes(b"PK\3\4")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        resolve_model_path(tmp_path / "x.bin")
    with pytest.raises(ModelFileError, match="not found"):
        resolve_model_path(tmp_path / "missing.gguf")


def test_corrupted_assembled_model_is_rebuilt(tmp_path, monkeypatch):
    """A tampered cache file fails its hash check and is reassembled from the parts
    (here a one-part "model", so the test hashes 50 MB rather than 1.1 GB)."""
    part = model_file.locate_parts()[0]
    monkeypatch.setattr(model_file, "locate_parts", lambda: [part])
    monkeypatch.setattr(model_file, "DEFAULT_MODEL_SHA256", model_file.sha256_of(part))
    monkeypatch.setattr(model_file, "DEFAULT_MODEL_SIZE", part.stat().st_size)
    target = tmp_path / model_file.DEFAULT_MODEL_NAME
    target.write_bytes(b"corrupted")
    assert model_file.assemble_default_model(tmp_path) == target
    assert model_file.sha256_of(target) == model_file.DEFAULT_MODEL_SHA256
    assert not (tmp_path / (target.name + ".partial")).exists()
