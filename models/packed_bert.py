"""A BERT-style encoder's inference pass over its real tokens only ("packed" rows).

A batch of sentences is a (rows × width) grid padded to its longest sentence, and transformers'
`BertModel` and `MPNetModel` run every matrix over the whole grid, padding included. Only
attention needs the grid (each token looks at the others of its row); the matrices, GELU and
layer norms act on each token alone. So here the tokens of all rows are gathered into one
(tokens × hidden) matrix for those, and scattered back to the grid for attention, through the
model's own modules (and BERT's own attention function; MPNet's attention through torch's fused
`scaled_dot_product_attention`, with its relative-position bias), so that quantised layers
(nlp/int8.py), adapters merged into the weights and prepacked layers (nlp/prepack.py) run
unchanged.

The numbers are those of the encoder at every real token (tests/test_packed_bert.py): to the bit
for BERT (the bundled finance-minilm in fp32 and int8, max difference 0.0 on 512 FPB sentences).
MPNet's fused attention sums in another order than its module's step-by-step one: within 1e-5 in
fp32, and in bf16 finance-mpnet6's probabilities moved by up to 0.019 on 583 FPB held-out
sentences (1 label); with the prepacked layers as well, by up to 0.023 on 1,666 TFNS ones (no
label). That is bf16's own rounding (bf16 and fp32 differ by more). Alone it bought finance-mpnet6
1-4%; with the prepacked layers, 14-17% (docs/scaling.md).

What the packing saves is the padding: length-sorted batches of the pipeline's sentences hold
1.17 grid cells per real token (64 bench articles), the held-out FPB sentences 1.27, and the few
sentences a cascade sends to its second model (nlp/cascade.py) more.
"""

from __future__ import annotations

import logging
from functools import cache

import torch

log = logging.getLogger(__name__)

# The token count is rounded up to a multiple of this (copies of a real token, dropped after):
# a process fed 400 batches of random composition grew from 0.57 to 1.19 GB PSS with any count,
# and stayed under 0.83 GB with multiples of 64, as `BertModel`'s own grids did (0.59 → 0.75-0.86).
PACK_MULTIPLE = 64


@cache  # looked up (and warned about) once per process
def _transformers_parts():
    """The parts of transformers the packed pass calls (BertModel's own mask builder and
    attention functions), or None where the installed release does not have them: the
    project allows any transformers 5, and the private method this pass once called changed
    its signature within it (5.25), so a release that moves these falls back to the encoder's
    own pass, slower but right, instead of failing every analysis."""
    try:
        from transformers.masking_utils import create_bidirectional_mask
        from transformers.models.bert.modeling_bert import (
            ALL_ATTENTION_FUNCTIONS,
            eager_attention_forward,
        )
    except ImportError as exc:
        import transformers

        log.warning("transformers %s lacks what the packed encoder pass needs (%s): running the "
                    "encoder over its padded grid", transformers.__version__, exc)  # fmt: skip
        return None
    return create_bidirectional_mask, ALL_ATTENTION_FUNCTIONS, eager_attention_forward


def packs(encoder: torch.nn.Module) -> bool:
    """Whether `encoder` is a plain bidirectional BERT or MPNet encoder this pass reproduces, with
    a transformers that has the parts it needs."""
    from transformers import BertModel, MPNetModel

    if isinstance(encoder, MPNetModel):  # an encoder only: no decoder or chunking options
        return _transformers_parts() is not None
    if not isinstance(encoder, BertModel):
        return False
    config = encoder.config
    plain = not config.is_decoder and not config.add_cross_attention and not config.chunk_size_feed_forward
    return plain and _transformers_parts() is not None


def last_hidden_state(encoder: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The encoder's last hidden state: the packed pass where it reproduces the encoder's numbers
    (an encoder in eval mode that `packs`), else the encoder's own (training, other models)."""
    if not encoder.training and packs(encoder):
        return packed_hidden(encoder, input_ids, attention_mask)
    return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class _Packing:
    """Moves a batch's token vectors between the (rows × width) grid and its real tokens."""

    def __init__(self, attention_mask: torch.Tensor, heads: int) -> None:
        self.rows, self.width = attention_mask.shape
        self.heads = heads
        self.real = attention_mask.reshape(-1).nonzero().squeeze(1)
        self.n = n = len(self.real)
        self.gather = torch.cat([self.real, self.real[-1:].expand(-n % PACK_MULTIPLE)]) if n else self.real

    def tokens(self, grid: torch.Tensor) -> torch.Tensor:
        """(rows, width, features) or (rows × width, features) → the real tokens (and rounding copies)."""
        return grid.reshape(self.rows * self.width, -1).index_select(0, self.gather)

    def to_grid(self, tokens: torch.Tensor) -> torch.Tensor:
        # only the real tokens go back; the rounding copies are dropped here
        out = tokens.new_zeros(self.rows * self.width, tokens.shape[-1])
        return out.index_copy_(0, self.real, tokens[: self.n])

    def by_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """Packed tokens → (rows, heads, width, head size), as attention wants them."""
        return self.to_grid(tokens).view(self.rows, self.width, self.heads, -1).transpose(1, 2)


def packed_hidden(encoder: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """`encoder(input_ids, attention_mask).last_hidden_state` (rows, width, hidden), with zeros at
    the padding positions. Inference only: no dropout, no gradients needed."""
    from transformers import MPNetModel

    create_bidirectional_mask = _transformers_parts()[0]
    config = encoder.config
    grid = encoder.embeddings(input_ids=input_ids)
    rows, width, hidden = grid.shape
    # The mask the encoder builds for itself, through the public function it calls (BertModel's
    # own _create_attention_masks changed its signature in transformers 5.25).
    mask = create_bidirectional_mask(config=config, inputs_embeds=grid, attention_mask=attention_mask)
    pack = _Packing(attention_mask, config.num_attention_heads)
    run = _mpnet_layers if isinstance(encoder, MPNetModel) else _bert_layers
    h = run(encoder, pack, pack.tokens(grid), mask, grid)
    return pack.to_grid(h).view(rows, width, hidden)


def _bert_layers(encoder, pack: _Packing, h: torch.Tensor, mask, grid: torch.Tensor) -> torch.Tensor:
    _, ALL_ATTENTION_FUNCTIONS, eager_attention_forward = _transformers_parts()  # noqa: N806
    attend = ALL_ATTENTION_FUNCTIONS.get_interface(encoder.config._attn_implementation, eager_attention_forward)
    for layer in encoder.encoder.layer:
        attention = layer.attention.self
        context, _ = attend(
            attention, pack.by_head(attention.query(h)), pack.by_head(attention.key(h)),
            pack.by_head(attention.value(h)), mask, dropout=0.0, scaling=attention.scaling,
        )  # fmt: skip
        h = layer.attention.output(pack.tokens(context), h)
        h = layer.output(layer.intermediate(h), h)
    return h


def _mpnet_layers(encoder, pack: _Packing, h: torch.Tensor, mask, grid: torch.Tensor) -> torch.Tensor:
    # MPNetSelfAttention's steps (it has no attention-function interface), with torch's fused
    # attention: softmax(q·kᵀ / √d + bias + mask)·v, as MPNet's own module computes it step by
    # step. The relative-position bias its encoder computes once per batch from the grid, and the
    # padding mask, are added together once per batch instead of in every layer.
    bias = encoder.encoder.compute_position_bias(grid)
    if mask is not None and mask.dtype == torch.bool:  # True = attend, as an SDPA-style mask
        bias = bias.masked_fill(~mask, torch.finfo(bias.dtype).min)
    elif mask is not None:  # additive, as MPNet's eager attention takes it
        bias = bias + mask
    for layer in encoder.encoder.layer:
        attention = layer.attention.attn
        q, k, v = pack.by_head(attention.q(h)), pack.by_head(attention.k(h)), pack.by_head(attention.v(h))
        context = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias).permute(0, 2, 1, 3)
        h = layer.attention.LayerNorm(attention.o(pack.tokens(context)) + h)
        h = layer.output(layer.intermediate(h), h)
    return h
