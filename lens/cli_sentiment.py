"""``lens sentiment`` and ``lens eval-sentiment``: score texts, JSONL batches and labelled CSVs.

Registered on the application's typer app by ``register(app)``. Results go to stdout or
``--output``; problems (a bad input line, a text the model could not score) go to stderr, one line
each, and never cost the rest of the batch. Exit codes as in ``lens.cli``: 0 success (item problems
printed), 1 nothing could be processed, 2 bad usage or configuration (e.g. a missing model).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from .partial_output import PartialOutput

LABELS = ("negative", "neutral", "positive")
# Label spellings a labelled CSV may use (Twitter Financial News and tweet data say bearish and
# bullish; FinBERT-style files abbreviate), matched after case and spaces are set aside.
LABEL_ALIASES = {
    **{name: name for name in LABELS},
    "neg": "negative", "bearish": "negative", "bear": "negative",
    "neu": "neutral",
    "pos": "positive", "bullish": "positive", "bull": "positive",
}  # fmt: skip
# Lines are scored in chunks: memory stays flat on big files, batches stay full.
CHUNK_LINES = 2048

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--sentiment-model",
        help="'finance-mpnet6' (bundled: FPB accuracy 0.87, about 300 sentences/s on 2 CPU cores in bf16), "
        "'finance-minilm' (bundled, twice as fast, 0.84), 'finance-mpnet' (bundled, as accurate as the first "
        "at half its speed), 'finance-cascade' (finance-minilm, then finance-mpnet on unsure sentences), a "
        "local Hugging Face model folder, or a cached model id [default: lens.toml's \\[nlp] tone_model, else "
        "finance-mpnet6]",
    ),
]
DeviceOption = Annotated[str | None, typer.Option("--device", help="auto (cuda → mps → cpu), cpu, cuda, mps [default: lens.toml's, else auto]")]
BatchOption = Annotated[
    int | None, typer.Option("--batch-size", min=1, help="sentences per model batch [default: lens.toml's "
                             "\\[nlp] sentiment_batch_size, else 64 on a CPU and 256 on a GPU]")
]
PrecisionOption = Annotated[
    str | None, typer.Option("--precision", help="auto (fp16 on CUDA, bf16 on AMX/AVX512-BF16 CPUs, int8 on other x86 CPUs for the bundled model, else fp32), fp32, bf16, fp16, int8 [default: lens.toml's, else auto]")
]
CompileOption = Annotated[
    bool, typer.Option("--compile", help="compile the model with torch.compile first, after 15-40 s of compiling per model: "
                       "a fifth faster on the AVX512-BF16 EPYC measured, slower on the Xeon with AMX; measure "
                       "with bench/sentiment.py before long inputs")
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _load(model: str, device: str, batch_size: int | None, precision: str = "auto", compiled: bool = False):
    from models.registry import SentimentModelError
    from nlp.sentiment import sentiment_scorer

    try:
        return sentiment_scorer(model, device=device, batch_size=batch_size, precision=precision, compiled=compiled)
    except SentimentModelError as exc:
        raise _fail(str(exc)) from None


def result_record(probs, item_id: Any = None, with_id: bool = True) -> dict:
    """The output line of ``lens sentiment``: id, label, score = P(pos) − P(neg), probs."""
    p = [round(float(x), 6) for x in probs]
    record = {"id": item_id} if with_id else {}
    record.update({
        "label": LABELS[max(range(3), key=p.__getitem__)],
        "score": round(p[2] - p[0], 6),
        "probs": dict(zip(LABELS, p, strict=True)),
    })
    return record


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def read_jsonl(path: Path, report: Callable[[str], None],
               warn: Callable[[str], None] | None = None) -> Iterator[tuple[int, Any, str]]:
    """(line number, id, text) per good line; each bad line goes to ``report`` as FILE:LINE:
    reason. A byte order mark is allowed (Excel and Notepad write one); undecodable bytes read as
    U+FFFD, said once to ``warn`` (a line that is still scored is not a skipped one)."""
    warned = False
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = raw.decode("utf-8", errors="replace")
                if not warned and warn is not None:
                    warn(f"{path}:{number}: not valid UTF-8 (byte {exc.start} of the line); such bytes are read as "
                           "U+FFFD here and on any later line")  # fmt: skip
                    warned = True
            if not line.strip():
                continue
            try:
                item = json.loads(line, parse_constant=_no_constant)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, a 5,000-digit number, [[[[...
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(":")[0]
                report(f"{path}:{number}: not valid JSON ({reason}); skipped")
                continue
            if not isinstance(item, dict) or "text" not in item or "id" not in item:
                report(f'{path}:{number}: expected an object with "id" and "text"; skipped')
                continue
            if item["id"] is None:
                report(f'{path}:{number}: "id" is null: results are matched to their lines by id; skipped')
                continue
            if not isinstance(item["text"], str):
                report(f'{path}:{number}: "text" must be a string, got {type(item["text"]).__name__}; skipped')
                continue
            try:  # the id goes back out as it came: it must be writable as JSON (1e400 is not)
                json.dumps(item["id"], ensure_ascii=False, allow_nan=False).encode("utf-8")
            except (ValueError, UnicodeEncodeError) as exc:
                report(f'{path}:{number}: its "id" cannot be written back as JSON ({exc}); skipped')
                continue
            yield number, item["id"], item["text"]


def not_jsonl(path: Path, sample: int = 20) -> str | None:
    """Why `path` is no JSONL input at all, or None: not one of its first `sample` non-blank
    lines is a JSON object. A CSV or a plain text file would otherwise be refused line by line,
    hundreds of the same message, after the model has loaded."""
    lines = []
    with path.open("rb") as handle:
        for raw in handle:
            line = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
            if not line:
                continue
            try:
                if isinstance(json.loads(line, parse_constant=_no_constant), dict):
                    return None
            except (ValueError, RecursionError):
                pass
            lines.append(line)
            if len(lines) >= sample:
                break
    if not lines:
        return None  # an empty input is scored as such: nothing
    head = lines[0][:60] + ("…" if len(lines[0]) > 60 else "")
    hint = ""
    if "," in lines[0] and "text" in lines[0].lower().split(","):
        hint = "; a CSV with a text column: convert it to JSONL, or score labelled rows with lens eval-sentiment --data"
    return (f"{path}: not JSON Lines (its first line is {head!r}); --input takes one "
            f'{{"id": ..., "text": ...}} object per line{hint}')


def _scorable(path: Path, report: Callable[[str], None],
              warn: Callable[[str], None] | None = None) -> Iterator[tuple[int, Any, str]]:
    """The items of `read_jsonl` that get a result line: a text the model cannot take (not valid
    Unicode) is reported here, so that which items get a line does not depend on the model and an
    interrupted run's lines can be matched to the input again (lens.partial_output)."""
    from nlp.sentiment import text_problem

    for number, item_id, text in read_jsonl(path, report, warn):
        problem = text_problem(text)
        if problem is None:
            yield number, item_id, text
        else:
            report(f"{path}:{number}: id {item_id!r}: {problem}; skipped")


def _chunks(items: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class JsonlTally:
    written: int = 0
    resumed: int = 0  # lines an interrupted run had written, kept
    skipped: int = 0  # bad input lines and texts the model could not score
    truncated: int = 0


def first_ids(source: Path, n: int) -> list[Any]:
    """The ids of the first `n` items of `source` that get a result line."""
    return [item_id for _, item_id, _ in itertools.islice(_scorable(source, lambda message: None), n)]


def score_jsonl(scorer, source: Path, sink, errors: TextIO, skip: int = 0) -> JsonlTally:
    """Score every good line of ``source`` into ``sink``, in input order, after the first `skip`
    items that get a result (those an interrupted run wrote); problems go to ``errors``. A sink
    with a ``checkpoint`` method (lens.partial_output) is checkpointed after every chunk."""
    tally = JsonlTally(resumed=skip)

    def report(message: str) -> None:
        tally.skipped += 1
        print(message, file=errors)

    seen: dict[str, int] = {}  # id as JSON → the first line it is on
    repeats: list[tuple[Any, int, int]] = []

    def noting_repeats(items):
        for number, item_id, text in items:
            key = json.dumps(item_id, ensure_ascii=False, sort_keys=True)
            if key in seen:
                repeats.append((item_id, seen[key], number))
            else:
                seen[key] = number
            yield number, item_id, text

    items = noting_repeats(_scorable(source, report, lambda message: print(message, file=errors)))
    for chunk in _chunks(itertools.islice(items, skip, None) if skip else items, CHUNK_LINES):
        result = scorer.score([text for _, _, text in chunk])
        tally.truncated += result.n_truncated
        for index, ((number, item_id, _), probs) in enumerate(zip(chunk, result.probs, strict=True)):
            if index in result.errors:
                report(f"{source}:{number}: id {item_id!r}: {result.errors[index]}; skipped")
                continue
            sink.write(json.dumps(result_record(probs, item_id), ensure_ascii=False, allow_nan=False) + "\n")
            tally.written += 1
        if hasattr(sink, "checkpoint"):
            sink.checkpoint()
    if repeats:
        item_id, first_line, line = repeats[0]
        print(f"{source}: {len(repeats)} line{'s' if len(repeats) != 1 else ''} repeat an id given on an earlier "
              f"line (first: {item_id!r} on lines {first_line} and {line}); each line has its own result, in input "
              "order", file=errors)  # fmt: skip
    return tally


@dataclass
class LabelledRows:
    texts: list[str]
    labels: list[int]  # indices into LABELS
    lines: list[int]  # the line of the file each row starts on, for messages
    values: dict[str, list[str]]  # each row's value in every extra column asked for
    skipped: int = 0  # rows reported and left out


def read_labelled_csv(path: Path, errors: TextIO, columns: dict[str, str] | None = None) -> LabelledRows:
    """The rows of a text,label CSV with a known label and some text, and their value in every one
    of `columns` (column → the option that needs it, named if the file lacks it); every other row
    is reported as FILE:LINE: reason. A byte order mark is allowed, undecodable bytes read as
    U+FFFD (said once), and a field may be of any length."""
    columns = columns or {}
    raw = path.read_bytes()
    try:
        data = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        data = raw.decode("utf-8-sig", errors="replace")
        print(f"{path}: not valid UTF-8 (first at byte {exc.start}); such bytes are read as U+FFFD", file=errors)
    csv.field_size_limit(max(csv.field_size_limit(), len(data) + 1))  # texts are cut at the model anyway
    source_lines = io.StringIO(data, newline="").readlines()  # as the reader counts them
    reader = csv.DictReader(io.StringIO(data, newline=""))
    names = reader.fieldnames or []
    if not {"text", "label"} <= set(names):
        raise _fail(f"{path}: needs columns text,label; found {names}")
    for name, option in columns.items():
        if name not in names:
            raise _fail(f"{option}: {path} has no such column {name!r} (it has {', '.join(names)})")
    repeated = sorted({n for n in names if names.count(n) > 1 and n in {"text", "label", *columns}})
    if repeated:
        raise _fail(f"{path}: the column {repeated[0]!r} appears twice; keep one")
    rows = LabelledRows([], [], [], {name: [] for name in columns})
    end = reader.line_num  # the header's last line
    for row in reader:
        start, end = end + 1, reader.line_num
        while start < end and not source_lines[start - 1].strip():  # blank lines the reader passed over
            start += 1
        label = LABEL_ALIASES.get((row["label"] or "").strip().lower())
        text = row["text"] or ""
        reason = None
        extra = [v for v in row.get(None, ()) if v.strip()]  # a trailing empty field or two is harmless
        if extra or row["label"] is None:  # csv.DictReader's marks of a row with more or fewer fields
            found = len(names) + len(row[None]) if extra else sum(v is not None for k, v in row.items() if k is not None)
            reason = f"{found} field{'s' if found != 1 else ''} where the header has {len(names)}"
            if end >= len(source_lines) and "\n" in text:
                reason += " (a quote opened and never closed runs to the end of the file)"
        elif not text.strip():
            reason = "no text"
        elif label is None:
            reason = f"label {row['label']!r} is not one of {LABELS} (or neg, neu, pos, bearish, bullish)"
        if reason:
            print(f"{path}:{start}: {reason}; skipped", file=errors)
            rows.skipped += 1
            continue
        rows.texts.append(text)
        rows.labels.append(LABELS.index(label))
        rows.lines.append(start)
        for name in columns:
            rows.values[name].append((row[name] or "").strip())
    return rows


def _squash(text: str) -> str:
    return " ".join(text.split())


def run_tone(run: Path, article_ids: list[str], texts: list[str]):
    """What a `lens analyze`/`lens run` folder says of each (article_id, text) row: the
    probabilities it stored for that sentence (a NaN row where the text is not one of the
    article's sentences, whitespace aside), and whether it found a catalyst in the sentence."""
    import numpy as np
    import pandas as pd

    try:
        sentences = pd.read_parquet(run / "sentences.parquet",
                                    columns=["article_id", "sent_idx", "text", "p_negative", "p_neutral", "p_positive"])
        catalysts = pd.read_parquet(run / "catalysts.parquet", columns=["article_id", "sent_idx"])
    except (OSError, ValueError) as exc:
        raise _fail(f"--run {run}: cannot read its sentences and catalysts tables ({str(exc).splitlines()[0]})") from None
    index = {(a, _squash(t)): i for i, (a, t) in enumerate(zip(sentences.article_id, sentences.text, strict=True))}
    found = set(zip(catalysts.article_id, catalysts.sent_idx, strict=True))
    stored = sentences[["p_negative", "p_neutral", "p_positive"]].to_numpy(dtype=np.float32)
    probs = np.full((len(texts), len(LABELS)), np.nan, dtype=np.float32)
    in_catalyst = np.zeros(len(texts), dtype=bool)
    for k, (article_id, text) in enumerate(zip(article_ids, texts, strict=True)):
        i = index.get((article_id, _squash(text)))
        if i is not None:
            probs[k] = stored[i]
            in_catalyst[k] = (article_id, int(sentences.sent_idx.iat[i])) in found
    return probs, in_catalyst


def _run_name(run: Path) -> str:
    """The run's folder and, when `lens run` recorded them, its models."""
    try:
        models = json.loads((run / "run_meta.json").read_text(encoding="utf-8")).get("models")
    except (OSError, ValueError):
        models = None
    return f"run {run}" + (f" ({models})" if models else "")


def evaluation_report(y_true: list[int], y_pred: list[int], intervals: bool = True) -> dict:
    """Accuracy, macro- and weighted-F1 and the confusion matrix; with `intervals`, the 95%
    confidence interval of each figure (`confidence_intervals`). The F1 scores are over the labels
    that occur in the truth or the predictions (sklearn's default): a label neither has would
    count as an F1 of 0 and pull the mean of a small file down for nothing."""
    from sklearn.metrics import accuracy_score, confusion_matrix

    labels = sorted(set(y_true) | set(y_pred))
    macro, weighted = f1_scores(y_true, y_pred, labels=labels)
    report = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(macro),
        "weighted_f1": float(weighted),
        "labels": list(LABELS),
        "confusion": confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist(),
    }
    if intervals and y_true:
        report["ci95"] = confidence_intervals(y_true, y_pred)
    return report


def f1_scores(y_true, y_pred, axis: int = -1, labels=None):
    """(macro-F1, weighted-F1) over `labels` (indices; default all three), as sklearn's f1_score
    with those labels and zero_division 0, along `axis`: for many resamples of the rows at once
    (the bootstrap below calls it with one resample per row of a matrix)."""
    import numpy as np

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    per_label, support = [], []
    for label in range(len(LABELS)) if labels is None else labels:
        true, pred = y_true == label, y_pred == label
        both = (true & pred).sum(axis=axis)
        counted = true.sum(axis=axis) + pred.sum(axis=axis)  # 2·tp + fp + fn
        per_label.append(np.divide(2 * both, counted, out=np.zeros(both.shape), where=counted > 0))
        support.append(true.sum(axis=axis))
    f1, support = np.stack(per_label), np.stack(support)
    rows = np.maximum(support.sum(axis=0), 1)
    return f1.mean(axis=0), (f1 * support).sum(axis=0) / rows


def confidence_intervals(y_true: list[int], y_pred: list[int], resamples: int = 2000) -> dict[str, list[float]]:
    """95% intervals: Wilson's for accuracy (a proportion), and for the F1 scores, which are not
    proportions, the percentile bootstrap over rows (seeded, so a report repeats itself).

    A held-out set of a few hundred rows measures accuracy to about ±3 points: two models, or a
    model and a published figure, that differ by less are not told apart by it."""
    import numpy as np
    from scipy.stats import bootstrap
    from statsmodels.stats.proportion import proportion_confint

    right = sum(t == p for t, p in zip(y_true, y_pred, strict=True))
    out = {"accuracy": [float(x) for x in proportion_confint(right, len(y_true), alpha=0.05, method="wilson")]}
    if len(y_true) < 2:  # nothing to resample
        return out
    labels = sorted(set(y_true) | set(y_pred))  # those of the figure itself, in every resample
    for key, which in (("macro_f1", 0), ("weighted_f1", 1)):
        found = bootstrap((np.asarray(y_true), np.asarray(y_pred)),
                          lambda t, p, axis=-1, which=which: f1_scores(t, p, axis, labels)[which],
                          paired=True, vectorized=True, n_resamples=resamples, method="percentile",
                          random_state=0).confidence_interval  # fmt: skip
        out[key] = [float(found.low), float(found.high)]
    return out


def group_reports(y_true: list[int], y_pred: list[int], groups: list[str]) -> dict[str, dict]:
    """The figures of evaluation_report (without the confusion matrix) for each group value."""
    out = {}
    for value in sorted(set(groups)):
        rows = [i for i, g in enumerate(groups) if g == value]
        report = evaluation_report([y_true[i] for i in rows], [y_pred[i] for i in rows], intervals=False)
        out[value] = {k: report[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")}
    return out


def paired_comparison(y_true: list[int], first: list[int], second: list[int]) -> dict:
    """Where only one of two models is right on the same rows, and the exact McNemar test of
    whether those counts differ by more than chance."""
    from statsmodels.stats.contingency_tables import mcnemar

    right_a = [p == t for p, t in zip(first, y_true, strict=True)]
    right_b = [p == t for p, t in zip(second, y_true, strict=True)]
    only_a = sum(a and not b for a, b in zip(right_a, right_b, strict=True))
    only_b = sum(b and not a for a, b in zip(right_a, right_b, strict=True))
    both = sum(a and b for a, b in zip(right_a, right_b, strict=True))
    table = [[both, only_a], [only_b, len(y_true) - both - only_a - only_b]]
    return {"n": len(y_true), "only_first_right": only_a, "only_second_right": only_b,
            "mcnemar_exact_p": float(mcnemar(table, exact=True).pvalue)}  # fmt: skip


def _interval(report: dict, key: str) -> str:
    low, high = report.get("ci95", {}).get(key, (None, None))
    return "" if low is None else f"   95% CI {low:.3f}-{high:.3f}"


def format_report(report: dict, name: str) -> str:
    width = max(len(label) for label in LABELS) + 2
    lines = [
        f"{name}: {report['n']} rows" + (f" ({report['left_out']} left out, named above)" if report.get("left_out") else ""),
        *(f"{title:<13}{report[key]:.4f}" + _interval(report, key)
          for title, key in (("accuracy", "accuracy"), ("macro-F1", "macro_f1"), ("weighted-F1", "weighted_f1"))),
        *([f"{report['truncated']} texts were longer than the model reads and were scored on their start"]
          if report.get("truncated") else []),
        "confusion matrix (rows: true, columns: predicted)",
        " " * width + "".join(f"{label:>{width}}" for label in LABELS),
    ]
    for label, row in zip(LABELS, report["confusion"], strict=True):
        lines.append(f"{label:<{width}}" + "".join(f"{count:>{width}d}" for count in row))
    if report.get("by"):
        lines.append(f"by {report['by_column']}:")
        for value, part in report["by"].items():
            lines.append(f"  {value or '(empty)':<10} {part['n']:5d} rows  accuracy {part['accuracy']:.4f}  "
                         f"macro-F1 {part['macro_f1']:.4f}  weighted-F1 {part['weighted_f1']:.4f}")  # fmt: skip
    return "\n".join(lines)


def _score_to_file(scorer, input_path: Path, output: Path) -> JsonlTally:
    # what must be the same for an interrupted run's lines to be continued (lens.partial_output)
    settings = {"input": str(input_path.resolve()), "model": scorer.name, "precision": scorer.precision,
                "device": str(scorer.device), "max_length": scorer.max_length}  # fmt: skip
    partial = PartialOutput(output, settings)
    try:
        partial.open()
    except OSError as exc:
        raise _fail(f"{output}: cannot write ({exc.strerror})") from None
    if partial.done:
        partial.matches(first_ids(input_path, len(partial.done)))
    if partial.restarted_because:
        typer.echo(f"note: {partial.part} not continued ({partial.restarted_because}); starting again", err=True)
    elif partial.done:
        typer.echo(f"continuing an interrupted run: {len(partial.done)} results already in {partial.part}", err=True)
    try:
        tally = score_jsonl(scorer, input_path, partial, sys.stderr, skip=len(partial.done))
        if tally.written + tally.resumed == 0 and tally.skipped:
            partial.discard()  # not one result: an empty file would stand where a good one was
        else:
            partial.finish()
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the results so far are in {partial.part}; the same command continues from "
                   "there", err=True)  # fmt: skip
        raise typer.Exit(code=130) from None
    except OSError as exc:  # a full disk, a folder removed under the run
        raise _fail(f"{output}: cannot write ({exc.strerror}); the results so far are in {partial.part}") from None
    finally:
        partial.close()
    return tally


def register(app: typer.Typer, defaults: Callable[[], Any] | None = None) -> None:
    """Add ``sentiment`` and ``eval-sentiment`` to the application's typer app. `defaults` gives,
    when a command runs, the PipelineConfig whose tone model, device, precision and sentence batch
    stand where an option is not given (lens.cli passes lens.toml's [nlp]); without it, the
    configuration's own defaults."""

    def settled(model, device, batch_size, precision):
        if defaults is None:
            from nlp.pipeline import PipelineConfig

            base = PipelineConfig()
        else:
            base = defaults()
        return (model or base.tone_model, device or base.device, batch_size or base.sentiment_batch_size,
                precision or base.precision)  # fmt: skip

    @app.command("sentiment")
    def sentiment(
        text: Annotated[str | None, typer.Argument(help="one text to score")] = None,
        input_path: Annotated[Path | None, typer.Option("--input", "-i", help="JSONL, one {\"id\", \"text\"} per line")] = None,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="JSONL results (default: stdout)")] = None,
        sentiment_model: ModelOption = None,
        device: DeviceOption = None,
        batch_size: BatchOption = None,
        precision: PrecisionOption = None,
        compiled: CompileOption = False,
    ) -> None:
        """Score one text, or a JSONL file of {"id", "text"} lines, for financial sentiment.

        Each result is {"id", "label", "score", "probs"}: label negative, neutral or positive (the
        likeliest), score = P(positive) - P(negative) in [-1, 1], probs the three probabilities. A
        bad line is named on stderr (FILE:LINE: why) and skipped; the rest are scored. A text longer
        than the model reads is scored on its start and counted. With --output, results go to
        OUTPUT.part until the last is written: if the run stops, the old OUTPUT stays and the same
        command continues where it stopped.

        Example: lens sentiment --input news.jsonl --output tone.jsonl --sentiment-model finance-cascade"""
        if text is None and input_path is None:
            raise _fail("nothing to score: give one TEXT or --input FILE.jsonl")
        if text is not None and input_path is not None:
            raise _fail("give either one TEXT or --input FILE.jsonl, not both")
        if text is not None and output is not None:
            raise _fail("--output goes with --input; one TEXT's result is printed")
        if input_path is not None and not input_path.is_file():
            raise _fail(f"{input_path}: " + ("a folder, not a JSONL file" if input_path.is_dir() else "no such file"))
        if output is not None and output.is_dir():
            raise _fail(f"--output {output}: a folder; name the JSONL file to write")
        if output is not None and output.exists() and output.resolve() == input_path.resolve():
            raise _fail(f"--output {output} is the --input file: writing would erase it first")
        if input_path is not None and (why := not_jsonl(input_path)):
            raise _fail(why)  # before the model loads, and without a line per row
        sentiment_model, device, batch_size, precision = settled(sentiment_model, device, batch_size, precision)
        scorer = _load(sentiment_model, device, batch_size, precision, compiled)
        if text is not None:
            result = scorer.score([text])
            if 0 in result.errors:
                raise _fail(result.errors[0])
            if result.n_truncated:
                typer.echo(f"note: text truncated to {scorer.max_length} tokens", err=True)
            typer.echo(json.dumps(result_record(result.probs[0], with_id=False), ensure_ascii=False))
            return
        if output is None:
            tally = score_jsonl(scorer, input_path, sys.stdout, sys.stderr)
        else:
            tally = _score_to_file(scorer, input_path, output)
        resumed = f" (and kept {tally.resumed} that an interrupted run had written)" if tally.resumed else ""
        typer.echo(
            f"scored {tally.written} texts to {output or 'stdout'}{resumed}, {tally.skipped} skipped, "
            f"{tally.truncated} truncated to {scorer.max_length} tokens",
            err=True,
        )
        if tally.written + tally.resumed == 0 and tally.skipped:
            raise typer.Exit(code=1)  # nothing could be processed

    @app.command("eval-sentiment")
    def eval_sentiment(
        data: Annotated[Path, typer.Option("--data", help="CSV with columns text,label")],
        sentiment_model: ModelOption = None,
        device: DeviceOption = None,
        batch_size: BatchOption = None,
        precision: PrecisionOption = None,
        compiled: CompileOption = False,
        as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
        by: Annotated[str | None, typer.Option("--by", help="also give the figures per value of this CSV column (e.g. confidence)")] = None,
        against: Annotated[str | None, typer.Option("--against", help="a second model to score the same rows, with a paired test of the two")] = None,
        run: Annotated[Path | None, typer.Option("--run", help="score the tone a `lens analyze`/`lens run` folder gave these sentences instead of a model's (the CSV needs article_id)")] = None,
        sentences: Annotated[str, typer.Option("--sentences", help="with --run: all the rows, or catalyst (those in which the run found a catalyst)")] = "all",
    ) -> None:
        """Accuracy, macro-F1, weighted-F1 and the confusion matrix on a labelled CSV; with
        --against, the same for a second model on the same rows and an exact McNemar test of the
        rows only one of them gets right. With --run, the first figures are those of the tone an
        analysis stored for each row's sentence (pipeline and all), matched by article_id and text.

        Example: lens eval-sentiment --data corpus/gold/sentiment_gold.csv --run reports/demo --sentences catalyst --against finance-minilm"""
        if not data.is_file():
            raise _fail(f"{data}: " + ("a folder, not a CSV file" if data.is_dir() else "no such file"))
        sentiment_model, device, batch_size, precision = settled(sentiment_model, device, batch_size, precision)
        if sentences not in ("all", "catalyst") or (sentences != "all" and run is None):
            raise _fail(f"--sentences {sentences}: use all or catalyst, with --run")
        if run is not None and not run.is_dir():
            raise _fail(f"--run {run}: no such folder")
        needed = {**({by: f"--by {by}"} if by else {}), **({"article_id": "--run"} if run else {})}
        rows = read_labelled_csv(data, sys.stderr, needed)
        texts, labels, lines, groups = rows.texts, rows.labels, rows.lines, rows.values.get(by, [])
        scorers, results = [], []
        left_out = rows.skipped  # rows named on stderr and not in the figures
        if run is not None:
            import numpy as np

            from nlp.sentiment import SentimentResult

            probs, in_catalyst = run_tone(run, rows.values["article_id"], texts)
            matched = ~np.isnan(probs).any(axis=1)
            if (~matched).any():
                left_out += int((~matched).sum())
                missing = [str(lines[i]) for i in np.flatnonzero(~matched)]
                shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
                rows_are = f"{len(missing)} rows (lines {shown}) have" if len(missing) > 1 else f"1 row (line {shown}) has"
                typer.echo(f"{data}: {rows_are} no tone in {run} (not one of its "
                           "sentences as its pipeline split them, an article it does not have, or a sentence it "
                           "could not score); left out", err=True)  # fmt: skip
            keep = np.flatnonzero(matched & (in_catalyst if sentences == "catalyst" else True))
            texts, labels, lines = [texts[i] for i in keep], [labels[i] for i in keep], [lines[i] for i in keep]
            groups = [groups[i] for i in keep] if by else []
            scorers.append((_run_name(run) + (", catalyst sentences" if sentences == "catalyst" else ""), {}))
            results.append(SentimentResult(probs[keep], np.zeros(len(keep), dtype=bool)))
        if not texts:
            raise _fail(f"{data}: no rows with a label in {LABELS}" + (f" that --run {run} can score" if run else ""))
        names = ([] if run is not None else [sentiment_model]) + ([against] if against else [])
        for name in names:  # one at a time: the first model's memory is free before the second loads
            scorer = _load(name, device, batch_size, precision, compiled)
            # how it ran, for the record: the same weights score a little differently in each form
            scorers.append((scorer.name, {"device": str(scorer.device), "precision": scorer.precision,
                                          "compiled": scorer.compiled}))  # fmt: skip
            results.append(scorer.score(texts))
            del scorer
        failed = set().union(*(r.errors for r in results))
        kept = [i for i in range(len(texts)) if i not in failed]  # the same rows for every model
        for index in sorted(failed):
            message = next(r.errors[index] for r in results if index in r.errors)
            typer.echo(f"{data}:{lines[index]}: {message}; left out", err=True)
        if not kept:
            typer.echo(f"error: {data}: no row could be scored" + (" by both models" if against else ""), err=True)
            raise typer.Exit(code=1)  # nothing could be processed
        truth = [labels[i] for i in kept]
        reports, predictions = [], []
        for (name, used), result in zip(scorers, results, strict=True):
            predicted = result.probs[kept].argmax(axis=1).tolist()
            report = evaluation_report(truth, predicted)
            report.update(model=name, **used, truncated=result.n_truncated, left_out=left_out + len(failed))
            if by is not None:
                report.update(by_column=by, by=group_reports(truth, predicted, [groups[i] for i in kept]))
            reports.append(report)
            predictions.append(predicted)
        report = reports[0]
        if against:
            report.update(against=reports[1], paired=paired_comparison(truth, *predictions))
        if as_json:
            typer.echo(json.dumps(report))
            return
        typer.echo("\n\n".join(format_report(r, f"{data} · {r['model']}") for r in reports))
        if against:
            paired = report["paired"]
            typer.echo(f"\npaired on {paired['n']} rows: only {reports[0]['model']} right {paired['only_first_right']}, "
                       f"only {reports[1]['model']} right {paired['only_second_right']}, "
                       f"exact McNemar p = {paired['mcnemar_exact_p']:.4f}")  # fmt: skip
