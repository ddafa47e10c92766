"""Configuration: `lens.toml` → one typed object, with every default documented here.

Lookup order: `--config PATH`, else `./lens.toml` if present, else the defaults below. Unknown
keys are an error naming the key and the file, so a typo never silently falls back.

    [ingest]     fetch policy and near-duplicate threshold
    [nlp]        models, device, batch sizes
    [timeline]   event clustering
    [market]     abnormal returns, significant moves, event study
    [attribution] candidate window, score weights, threshold
    [narratives] theme discovery, relevant sentences, smoothing, change points
    [leadlag]    narrative vs relative-return pairs, frequency, lags
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

from ingest.fetch import FetchPolicy
from market.attribution import AttributionConfig
from market.leadlag import LeadLagConfig
from market.moves import MoveConfig
from nlp.events import TimelineConfig
from nlp.narratives import NarrativeConfig
from nlp.pipeline import PipelineConfig


@dataclass
class IngestConfig:
    near_duplicate_threshold: float = 0.9  # estimated Jaccard on word 3-shingles
    commit_every: int = 500  # articles per store transaction while ingesting
    fetch: FetchPolicy = field(default_factory=FetchPolicy)


@dataclass
class LensConfig:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    nlp: PipelineConfig = field(default_factory=PipelineConfig)
    timeline: TimelineConfig = field(default_factory=TimelineConfig)
    market: MoveConfig = field(default_factory=MoveConfig)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    narratives: NarrativeConfig = field(default_factory=NarrativeConfig)
    leadlag: LeadLagConfig = field(default_factory=LeadLagConfig)


class ConfigError(ValueError):
    pass


def load_config(path: Path | None = None) -> LensConfig:
    if path is None:
        default = Path("lens.toml")
        if not default.exists():
            return LensConfig()
        path = default
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return _build(LensConfig, data, str(path), "")


def _build(cls, data: dict, source: str, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"{source}: unknown key {prefix}{sorted(unknown)[0]} (known: {', '.join(known)})")
    defaults = cls()
    values = {}
    for name in known:
        if name not in data:
            continue
        default = getattr(defaults, name)
        value = data[name]
        if is_dataclass(default):
            values[name] = _build(type(default), value, source, f"{prefix}{name}.")
        elif isinstance(default, tuple):
            values[name] = tuple(value)
        elif isinstance(default, float) and isinstance(value, int):
            values[name] = float(value)
        else:
            values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def to_toml(config: LensConfig) -> str:
    """The effective configuration as TOML (what `lens config show` prints)."""
    lines: list[str] = []

    def emit(table: str, obj) -> None:
        nested = []
        lines.append(f"[{table}]")
        for f in fields(obj):
            value = getattr(obj, f.name)
            if is_dataclass(value):
                nested.append((f"{table}.{f.name}", value))
            elif value is None:
                lines.append(f"# {f.name} = (unset)")
            else:
                lines.append(f"{f.name} = {_toml_value(value)}")
        lines.append("")
        for name, value in nested:
            emit(name, value)

    for f in fields(config):
        emit(f.name, getattr(config, f.name))
    return "\n".join(lines)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + " }"
    return str(value)
