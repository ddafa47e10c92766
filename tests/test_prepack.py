"""bf16 linear layers with weights reordered once for oneDNN (nlp/prepack.py): the numbers of
the plain layer, in every place a bf16 CPU model is prepared, and nowhere else."""

from __future__ import annotations

import pytest
import torch

from nlp.prepack import PrepackedLinear, can_prepack, prepack_linears
from nlp.sentiment import prepare_model
from tests.test_packed_bert import small_bert  # 3 layers

CPU = torch.device("cpu")
pytestmark = pytest.mark.skipif(not can_prepack(CPU, torch.bfloat16), reason="this CPU's oneDNN has no bf16")


def linears(model: torch.nn.Module, kind: type) -> int:
    return sum(type(m) is kind for m in model.modules())


@pytest.mark.parametrize("shape", [(5, 96), (3, 7, 96), (1, 96)])
def test_a_prepacked_layer_multiplies_as_the_linear_layer_does(shape):
    torch.manual_seed(1)
    linear = torch.nn.Linear(96, 160).to(torch.bfloat16)
    x = torch.randn(*shape).to(torch.bfloat16)
    with torch.inference_mode():
        got = PrepackedLinear(linear)(x)
        # the same bf16 inputs multiplied in float64, then rounded once to bf16: oneDNN sums
        # in fp32, so it may differ from this by bf16's rounding and no more
        exact = torch.nn.functional.linear(x.double(), linear.weight.double(), linear.bias.double())
    assert got.shape == (*shape[:-1], 160) and got.dtype == torch.bfloat16
    torch.testing.assert_close(got.double(), exact, rtol=2**-7, atol=1e-3)


def test_every_plain_linear_layer_is_replaced_and_the_encoder_keeps_its_numbers():
    model = small_bert().to(torch.bfloat16)
    ids = torch.randint(1, 200, (4, 11))
    with torch.inference_mode():
        before = model(input_ids=ids).last_hidden_state
        plain = linears(model, torch.nn.Linear)
        assert prepack_linears(model) == plain == 3 * 6  # q, k, v, attention output, intermediate, output
        assert linears(model, torch.nn.Linear) == 0 and linears(model, PrepackedLinear) == plain
        after = model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(after, before, rtol=2e-2, atol=2e-2)


def test_subclasses_of_linear_are_left_alone():
    class Quantised(torch.nn.Linear):  # as nlp/int8.py's and peft's layers subclass it
        pass

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), Quantised(8, 8)).to(torch.bfloat16)
    assert prepack_linears(model) == 1
    assert isinstance(model[0], PrepackedLinear) and type(model[1]) is Quantised


def test_only_bf16_models_on_a_cpu_are_prepacked_and_not_those_about_to_be_compiled():
    assert linears(prepare_model(small_bert(), CPU, "bf16"), PrepackedLinear) == 3 * 6
    assert linears(prepare_model(small_bert(), CPU, "bf16", prepack=False), PrepackedLinear) == 0
    assert linears(prepare_model(small_bert(), CPU, "fp32"), PrepackedLinear) == 0
    assert not can_prepack(CPU, torch.float32) and not can_prepack(torch.device("cuda"), torch.bfloat16)
