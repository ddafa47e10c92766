"""A BERT encoder's inference pass over its real tokens only ("packed" rows).

A batch of sentences is a (rows × width) grid padded to its longest sentence, and transformers'
`BertModel` runs every matrix over the whole grid, padding included. Only attention needs the
grid (each token looks at the others of its row); the matrices, GELU and layer norms act on each
token alone. So here the tokens of all rows are gathered into one (tokens × hidden) matrix for
those, and scattered back to the grid for attention, through the model's own modules and its own
attention function, so that quantised layers (nlp/int8.py) and adapters merged into the weights
run unchanged.

The numbers are those of `BertModel` to the bit, at every real token (tests/test_packed_bert.py;
on the bundled sentiment model in fp32 and int8, max difference 0.0 on 512 FPB sentences). What
it saves is the padding: length-sorted batches of the pipeline's sentences hold 1.17 grid cells
per real token (64 bench articles), the held-out FPB sentences 1.27.
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
    """Whether `encoder` is a plain bidirectional BERT encoder this pass reproduces, with a
    transformers that has the parts it needs."""
    from transformers import BertModel

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


def packed_hidden(encoder: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """`encoder(input_ids, attention_mask).last_hidden_state` (rows, width, hidden), with zeros at
    the padding positions. Inference only: no dropout, no gradients needed."""
    create_bidirectional_mask, ALL_ATTENTION_FUNCTIONS, eager_attention_forward = _transformers_parts()  # noqa: N806
    config = encoder.config
    attend = ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, eager_attention_forward)
    grid = encoder.embeddings(input_ids=input_ids)
    rows, width, hidden = grid.shape
    # The mask BertModel builds for an encoder, through the public function it calls (its own
    # _create_attention_masks changed its signature in transformers 5.25).
    mask = create_bidirectional_mask(config=config, inputs_embeds=grid, attention_mask=attention_mask)
    real = attention_mask.reshape(-1).nonzero().squeeze(1)
    n = len(real)
    gather = torch.cat([real, real[-1:].expand(-n % PACK_MULTIPLE)]) if n else real

    def to_grid(tokens: torch.Tensor) -> torch.Tensor:
        # only the real tokens go back; the rounding copies are dropped here
        return tokens.new_zeros(rows * width, tokens.shape[-1]).index_copy_(0, real, tokens[:n])

    def heads(tokens: torch.Tensor) -> torch.Tensor:
        return to_grid(tokens).view(rows, width, config.num_attention_heads, -1).transpose(1, 2)

    h = grid.reshape(rows * width, hidden).index_select(0, gather)
    for layer in encoder.encoder.layer:
        attention = layer.attention.self
        context, _ = attend(
            attention, heads(attention.query(h)), heads(attention.key(h)), heads(attention.value(h)), mask,
            dropout=0.0, scaling=attention.scaling,
        )  # fmt: skip
        context = context.reshape(rows * width, -1).index_select(0, gather)
        h = layer.attention.output(context, h)
        h = layer.output(layer.intermediate(h), h)
    return to_grid(h).view(rows, width, hidden)
