"""int8 inference for MiniLM transformers on CPUs without bf16 (AVX2-only x86 cores).

The query, key, value and feed-forward matrices of every transformer layer but the first become
`Int8Linear`s: the weight in int8 with one scale per output channel, the input rounded to 7 bits
at a scale fixed once per model, from the activations that a fixed set of news sentences produces in fp32 (the
taxonomy's example sentences, models/catalysts.yaml). The output stays fp32.

Before rounding, each input channel is divided by a smoothing factor that the weight's matching
column is multiplied by (the product is unchanged; SmoothQuant, Xiao et al. 2022). MiniLM's
inputs have a few outlier channels (the feed-forward input reaches 30 in one channel where the
median channel stays under 2), and one 7-bit scale wide enough for them left the other channels
a handful of steps.

Why fixed input scales: torch's dynamic quantisation takes each input's scale from the batch it
is in, so a sentence's probabilities depended on its neighbours. Scoring the FPB held-out rows
in two different batchings moved 11% of them by more than 0.05 and flipped 1.9% of the labels.
With scales fixed per model, a sentence gets the same numbers in any batch, as it does in fp32.

What it costs and gains on a 2-core AVX2 CPU: models/sentiment/MODEL_CARD.md, docs/scaling.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .sentiment import PAD_MULTIPLE

# The first transformer layer stays fp32: it reads the embeddings. With it quantised too, the
# sentiment model's mean validation macro-F1 (the figure that chose its epoch) was lower in the
# first versions of this form: 0.8238 against 0.8244 with fixed 8-bit scales, 0.8100 against
# 0.8231 with torch's dynamic ones. The speed given up is one layer in six.
_LAYER = re.compile(r"(?:^|\.)layer\.(\d+)\.")
# The attention output projection (a twelfth of a layer's matrix work) stays fp32 too: its
# input, the heads' weighted values, is where 7-bit rounding cost the catalyst encoder most.
# `lens eval-nlp`, catalyst F1 / gold dates within 3 days of 166: fp32 0.756 / 142; every
# Linear of layers 2-6 in int8, 0.744 / 138; all but the attention output projections,
# 0.757 / 141; all but the feed-forward output, 0.750 / 140.
_KEEP_SUFFIX = "attention.output.dense"
CALIBRATION_BATCH = 64
# How much of an input channel's range moves into the weight: factor = range^a / weight^(1-a).
# Chosen on the sentiment model's validation rows (FPB and TFNS, 1,312 sentences), against fp32:
# a = 0 (no smoothing) changed 3.0% of the labels, mean |Δp| 0.024; a = 0.5, 4.9%; 0.6, 2.3% /
# 0.016; 0.7, 1.3% / 0.011; 0.8, 1.1% / 0.0085; 0.9, 1.1% / 0.0085; 1.0, 0.9% / 0.0097 (larger
# worst case, 0.28 against 0.14). On the held-out rows, a = 0.8 agrees with fp32 on 99.3% of
# FPB labels (97.6% without smoothing). The speed is the same within the noise of a run.
SMOOTHING = 0.8

log = logging.getLogger(__name__)


def int8_targets(model: torch.nn.Module) -> list[str]:
    """Names of the Linear layers the int8 form replaces: query, key, value and the two
    feed-forward matrices of every transformer layer but the first. Embeddings, layer norms, the
    attention output projections, the pooler and a classification head stay fp32."""
    names = []
    for name, module in model.named_modules():
        layer = _LAYER.search(name)
        if (
            isinstance(module, torch.nn.Linear) and layer and int(layer.group(1)) > 0
            and not name.endswith(_KEEP_SUFFIX)
        ):  # fmt: skip
            names.append(name)
    return names


class Int8Linear(torch.nn.Module):
    """y = (x / s) (W s)^T + b with W s in int8 per output channel and x / s rounded to 7 bits at
    a fixed scale; s smooths the input channels' ranges (`SMOOTHING`).

    `low` and `high` are the calibrated input range, per input channel or one for all."""

    def __init__(self, linear: torch.nn.Linear, low: float | Sequence[float], high: float | Sequence[float],
                 smoothing: float = SMOOTHING) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        low_, high_ = (torch.as_tensor(v, dtype=torch.float32).expand(weight.shape[1]) for v in (low, high))
        reach = torch.maximum(low_.abs(), high_.abs()).clamp(min=1e-5)
        factor = (reach**smoothing / weight.abs().amax(dim=0).clamp(min=1e-5) ** (1 - smoothing)).clamp(min=1e-5)
        self.register_buffer("inverse", 1.0 / factor)
        weight = weight * factor
        low, high = float((low_ / factor).min()), float((high_ / factor).max())
        scales = (weight.abs().amax(dim=1) / 127).clamp(min=1e-8).double()
        with warnings.catch_warnings():
            # torch marks its quantised-tensor constructors deprecated (torchao is the future);
            # the torch pinned in pyproject.toml ships them, and torchao has no CPU kernel for this
            warnings.filterwarnings("ignore", message=".*quantize_per_.*", category=UserWarning)
            qweight = torch.quantize_per_channel(
                weight, scales, torch.zeros(weight.shape[0], dtype=torch.long), 0, torch.qint8
            )
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.packed = torch.ops.quantized.linear_prepack(qweight, bias)
        # Inputs get 7 bits (0..127) over [low, high], a range that must hold 0. On AVX2, fbgemm
        # multiplies uint8 inputs by int8 weights in pairs summed into int16 (vpmaddubsw), which
        # saturates beyond 32,767: 255 × 127 × 2 can, 127 × 127 × 2 cannot. torch's own dynamic
        # quantisation reduces the range the same way on x86.
        self.low, self.high = min(low, 0.0), max(high, 0.0)
        self.scale = max((self.high - self.low) / 127.0, 1e-8)
        self.zero_point = int(round(-self.low / self.scale))
        self.out_features = weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # clipped here, since the kernel would round an outlier up to 255, past the 7 bits; in place,
        # on the product's own buffer: a second activation-sized buffer per matrix cost 9-13% of
        # bench/sentiment.py's rate on a 2-core AVX2 CPU (same numbers either way)
        rows = torch.mul(x.reshape(-1, x.shape[-1]).float(), self.inverse).clamp_(self.low, self.high).contiguous()
        y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
            rows, self.scale, self.zero_point, self.packed
        )
        return y.reshape(*x.shape[:-1], self.out_features)


def calibration_texts() -> list[str]:
    from .catalysts import example_sentences

    return example_sentences()


def activation_ranges(
    model: torch.nn.Module, tokenizer, texts: Sequence[str], names: Sequence[str], max_length: int = 128
) -> dict[str, tuple[list[float], list[float]]]:
    """(min, max) per input channel of each named layer over the tokens of `texts`, run in fp32.

    Padding positions are left out: what the model computes there is masked away, and their
    values (wider than real tokens' in some layers) would only coarsen the scale for the rest."""
    modules = dict(model.named_modules())
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    real: list[torch.Tensor] = []  # the attention mask of the batch being run, as booleans

    def observer(name: str) -> Callable:
        def hook(_module, args) -> None:
            # a (rows, width, features) grid, or only its real tokens (models/packed_bert.py)
            tokens = args[0][real[0]] if args[0].dim() == 3 else args[0]
            low, high = tokens.amin(dim=0), tokens.amax(dim=0)
            if name in seen:
                low, high = torch.minimum(seen[name][0], low), torch.maximum(seen[name][1], high)
            seen[name] = (low, high)

        return hook

    handles = [modules[name].register_forward_pre_hook(observer(name)) for name in names]
    order = sorted(texts, key=len)
    try:
        with torch.inference_mode():
            for start in range(0, len(order), CALIBRATION_BATCH):
                batch = tokenizer(
                    order[start : start + CALIBRATION_BATCH], padding=True, truncation=True,
                    max_length=max_length, pad_to_multiple_of=PAD_MULTIPLE, return_tensors="pt",
                )  # fmt: skip
                real[:] = [batch["attention_mask"].bool()]
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        for handle in handles:
            handle.remove()
    return {name: (low.tolist(), high.tolist()) for name, (low, high) in seen.items()}


def ranges_key(model: torch.nn.Module, texts: Sequence[str]) -> str:
    """A digest of all that the ranges depend on: this file, the sentences and every weight."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for text in texts:
        digest.update(text.encode() + b"\0")
    for name, tensor in model.state_dict().items():
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}\0{array.dtype}\0".encode())
        # the buffer itself: a copy of every weight would stay with the allocator (~90 MB)
        digest.update(array.data)
    return digest.hexdigest()[:24]


def _cached_ranges(path: Path | None, names: Sequence[str]) -> dict[str, tuple[list[float], list[float]]] | None:
    if path is None or not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
        ranges = {name: ([float(v) for v in stored[name][0]], [float(v) for v in stored[name][1]]) for name in names}
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:  # truncated or foreign: measure again
        log.warning("ignoring unreadable int8 ranges %s: %s", path, exc)
        return None
    return ranges


def quantize(model: torch.nn.Module, tokenizer, texts: Sequence[str] | None = None) -> torch.nn.Module:
    """`model` (fp32, eval) with its int8 targets replaced in place by `Int8Linear`s.

    Measuring the ranges is an fp32 pass over a few hundred sentences (about 3 s on 2 cores),
    so they are kept in the cache folder of the catalyst model (nlp/catalyst_cache.py) under a
    digest of the weights and sentences; LENS_CACHE_DIR=off measures them every time."""
    from .catalyst_cache import cache_dir, write

    names = int8_targets(model)
    if not names:
        raise ValueError("no transformer Linear layers to quantise (is this a BERT-style encoder?)")
    texts = list(texts or calibration_texts())
    folder = cache_dir()
    path = folder / f"int8-ranges-{ranges_key(model, texts)}.json" if folder else None
    ranges = _cached_ranges(path, names)
    if ranges is None:
        ranges = activation_ranges(model, tokenizer, texts, names)
        if path is not None:
            write(path.name, lambda handle: handle.write(json.dumps(ranges).encode()))
    modules = dict(model.named_modules())
    for name in names:
        parent, _, leaf = name.rpartition(".")
        setattr(modules[parent] if parent else model, leaf, Int8Linear(modules[name], *ranges[name]))
    return model
