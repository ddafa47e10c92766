"""Quality of the language stage against a hand-made gold file (corpus/gold/nlp_gold.jsonl).

- entity linking: micro precision/recall/F1 over (article, entity id) pairs;
- catalyst typing: micro precision/recall/F1 over (article, catalyst type) pairs;
- mention dates: for each dated gold catalyst, the date of the most confident predicted mention
  of the same type in the same article — exact day, and within ±3 days;
- timeline: for each distinct dated gold event (type, day), whether the timeline has an event
  of that type within ±3 days.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd


@dataclass
class PRF:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def prf(gold: set, predicted: set) -> PRF:
    return PRF(len(gold & predicted), len(predicted - gold), len(gold - predicted))


@dataclass
class NlpScores:
    entities: PRF | None  # None: the gold file annotates no entities (a catalyst-only set)
    catalysts: PRF
    dated_gold: int
    date_exact: int
    date_within3: int
    date_found: int  # dated gold catalysts whose type was predicted in the article
    timeline_gold: int
    timeline_within3: int
    per_type: dict[str, PRF]

    def lines(self) -> list[str]:
        def share(n: int, d: int) -> str:
            return f"{n}/{d} = {n / d:.3f}" if d else "n/a"

        e = self.entities
        out = [
            f"entity linking   P {e.precision:.3f}  R {e.recall:.3f}  F1 {e.f1:.3f}  (tp {e.tp}, fp {e.fp}, fn {e.fn})"
            if e is not None else "entity linking   not annotated in this gold file",
            f"catalyst typing  P {self.catalysts.precision:.3f}  R {self.catalysts.recall:.3f}  F1 {self.catalysts.f1:.3f}"
            f"  (tp {self.catalysts.tp}, fp {self.catalysts.fp}, fn {self.catalysts.fn})",
            f"mention dates    exact day {share(self.date_exact, self.dated_gold)};  within ±3 days {share(self.date_within3, self.dated_gold)}"
            f"  (type found for {self.date_found} of {self.dated_gold})",
            f"timeline events  within ±3 days {share(self.timeline_within3, self.timeline_gold)}",
            "per catalyst type (P / R / F1, support):",
        ]
        for ctype, s in sorted(self.per_type.items()):
            out.append(f"  {ctype:32s} {s.precision:.2f} / {s.recall:.2f} / {s.f1:.2f}  ({s.tp + s.fn})")
        return out


def load_gold(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    return rows


def evaluate(gold: list[dict], entities: pd.DataFrame, catalysts: pd.DataFrame, events: pd.DataFrame) -> NlpScores:
    articles = {g["article_id"] for g in gold}
    gold_ents = {(g["article_id"], e) for g in gold for e in g.get("entities", [])}
    ents = entities[entities.article_id.isin(articles) & entities.entity_id.notna()]
    pred_ents = set(zip(ents.article_id, ents.entity_id, strict=False))

    gold_types = {(g["article_id"], c["type"]) for g in gold for c in g.get("catalysts", [])}
    cats = catalysts[catalysts.article_id.isin(articles)]
    pred_types = set(zip(cats.article_id, cats.catalyst_type, strict=False))

    per_type = {}
    for ctype in sorted({t for _, t in gold_types | pred_types}):
        per_type[ctype] = prf({p for p in gold_types if p[1] == ctype}, {p for p in pred_types if p[1] == ctype})

    # An article's date for a type: its most confident mention of it that is not a recap of
    # older news (`nlp.catalysts._flag_recaps`).
    flags = cats["flags"] if "flags" in cats else pd.Series([()] * len(cats), index=cats.index, dtype=object)
    best = (
        cats.assign(_recap=[("recap" in list(f)) for f in flags])
        .sort_values(["_recap", "confidence"], ascending=[True, False])
        .drop_duplicates(["article_id", "catalyst_type"])
        .set_index(["article_id", "catalyst_type"])["event_start"]
        .to_dict()
    )
    dated = exact = within = found = 0
    timeline_targets: set[tuple[str, date]] = set()
    for g in gold:
        for c in g.get("catalysts", []):
            if not c.get("event_date"):
                continue
            day = date.fromisoformat(c["event_date"])
            dated += 1
            timeline_targets.add((c["type"], day))
            predicted = best.get((g["article_id"], c["type"]))
            if predicted is None or pd.isna(predicted):
                continue
            found += 1
            gap = abs((pd.Timestamp(predicted).date() - day).days)
            exact += gap == 0
            within += gap <= 3

    event_days = {}
    for ctype, day in zip(events.catalyst_type, events.event_date, strict=False):
        if day is not None and not pd.isna(day):
            event_days.setdefault(ctype, []).append(pd.Timestamp(day).date())
    hit = sum(
        any(abs((d - day).days) <= 3 for d in event_days.get(ctype, [])) for ctype, day in timeline_targets
    )
    entity_scores = prf(gold_ents, pred_ents) if any("entities" in g for g in gold) else None
    return NlpScores(entity_scores, prf(gold_types, pred_types), dated, exact, within, found,
                     len(timeline_targets), hit, per_type)


HALVES = ("all", "dev", "test")


def gold_half(gold: list[dict], half: str = "all") -> list[dict]:
    """The gold articles of one half: "dev" for reading errors and tuning rules against,
    "test" for scoring what that tuning did to articles it never looked at; "all" for both.
    An article's `half` field says where it is; without one, a hash of its id decides, so the
    halves do not move when articles are added. (The field pins an article whose id changed:
    an id is not what made it dev or test.)"""
    if half not in HALVES:
        raise ValueError(f"half {half!r}: expected one of {', '.join(HALVES)}")
    if half == "all":
        return gold
    return [g for g in gold if _half_of(g) == half]


def _half_of(row: dict) -> str:
    if row.get("half") in ("dev", "test"):
        return row["half"]
    return "dev" if hashlib.sha256(row["article_id"].encode()).digest()[0] % 2 == 0 else "test"


def evaluate_run(gold_path: Path, out: Path, half: str = "all") -> NlpScores:
    return evaluate(
        gold_half(load_gold(gold_path), half),
        pd.read_parquet(out / "entities.parquet"),
        pd.read_parquet(out / "catalysts.parquet"),
        pd.read_parquet(out / "events.parquet"),
    )


def gold_not_in_run(gold_path: Path, out: Path, half: str = "all") -> list[str]:
    """Gold article ids that the run's articles table lacks. Their annotations all score as
    misses, so a run of another corpus, or ids that changed, show as a drop in recall; the
    command says so instead."""
    table = out / "articles.parquet"
    if not table.exists():
        return []
    have = set(pd.read_parquet(table, columns=["article_id"]).article_id)
    return [g["article_id"] for g in gold_half(load_gold(gold_path), half) if g["article_id"] not in have]
