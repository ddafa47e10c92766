"""How far two annotators of the bundled corpus agree on catalyst types and dates.

    .venv/bin/python bench/fresh/agreement.py [--half all|dev|test]

Compares corpus/gold/nlp_gold.jsonl with bench/fresh/corpus_second_annotation.jsonl, a second
annotation of the same 74 articles made blind (from the article texts, the taxonomy's
definitions and the gold README's rules only; neither the gold nor the system's output) on
2026-12-03. Precision and recall treat the gold as the reference. The figure bounds what a
system can be expected to reach on this gold: where two careful readers disagree, neither
answer is wrong.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from nlp.evaluate import HALVES, gold_half, load_gold, prf

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", default="all", choices=HALVES)
    args = parser.parse_args()
    gold = gold_half(load_gold(REPO / "corpus/gold/nlp_gold.jsonl"), args.half)
    second = {row["article_id"]: row for row in load_gold(REPO / "bench/fresh/corpus_second_annotation.jsonl")}
    ids = [g["article_id"] for g in gold if g["article_id"] in second]
    first_pairs = {(g["article_id"], c["type"]) for g in gold for c in g["catalysts"]}
    second_pairs = {(a, c["type"]) for a in ids for c in second[a]["catalysts"]}
    s = prf(first_pairs, second_pairs)
    # a type may appear twice in an article (two events): compare the dated entries
    first_days = {(g["article_id"], c["type"]): c["event_date"] for g in gold for c in g["catalysts"] if c.get("event_date")}
    second_days = {(a, c["type"]): c["event_date"] for a in ids for c in second[a]["catalysts"] if c.get("event_date")}
    both = [k for k in first_days if k in second_days]
    near = sum(abs((date.fromisoformat(first_days[k]) - date.fromisoformat(second_days[k])).days) <= 3 for k in both)
    print(f"articles {len(ids)} ({args.half})")
    print(f"catalyst types   second vs gold: P {s.precision:.3f}  R {s.recall:.3f}  F1 {s.f1:.3f}"
          f"  (agree {s.tp}, second only {s.fp}, gold only {s.fn})")
    print(f"event dates      both dated: within ±3 days {near}/{len(both)}")


if __name__ == "__main__":
    main()
