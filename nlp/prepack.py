"""bf16 linear layers on a CPU with their weights reordered once, at load, for oneDNN.

torch multiplies a bf16 `nn.Linear` on a CPU through oneDNN, which first reorders the weight
matrix into the blocked layout its kernels read, at every call. A transformer calls each layer
once per batch, so the same reorder is repeated for every batch. `PrepackedLinear` keeps the
weight in that layout and calls oneDNN's linear on it (the operator inductor calls for frozen
weights, `torch.compile`'s way of saving the same work). A (1,920 × 768) by (768 × 3,072) bf16
product took 3.41 ms instead of 3.84 on 2 Xeon cores with AMX.

The numbers are those of `nn.Linear` where torch sends the product to oneDNN too, which it does
for all of finance-minilm's (the same probabilities to the bit on 583 FPB sentences). For some
small products torch uses another bf16 kernel, summing in another order, so a 768-wide MPNet
layer can differ in the last bit: finance-mpnet6's probabilities moved by up to 0.007 on the same
sentences, no label.
"""

from __future__ import annotations

import torch


def can_prepack(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether `prepack_linears` applies: bf16 on a CPU whose oneDNN multiplies bf16 itself.
    fp32 stays with torch's own kernels, whose numbers the project's figures were measured with."""
    if device.type != "cpu" or dtype != torch.bfloat16 or not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    try:
        return bool(ops._is_mkldnn_bf16_supported()) and hasattr(ops, "_reorder_linear_weight")
    except (AttributeError, RuntimeError):  # a torch built without these operators
        return False


class PrepackedLinear(torch.nn.Module):
    """`nn.Linear` for inference, its weight in oneDNN's layout. The weight is not a parameter:
    the module cannot be trained, moved to another device or cast, and a state dict leaves it out."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach())
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # oneDNN's linear takes a matrix: rows of any leading shape, as nn.Linear does
        flat = x.reshape(-1, self.in_features)
        out = torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "none", [], "")
        return out.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def prepack_linears(model: torch.nn.Module) -> int:
    """Replace every `nn.Linear` of `model` (an inference model in bf16 on a CPU, where
    `can_prepack`) by a `PrepackedLinear`, in place; the count replaced. Subclasses of
    nn.Linear (nlp/int8.py's, peft's) are left as they are."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(parent, name, PrepackedLinear(child))
                replaced += 1
    return replaced
