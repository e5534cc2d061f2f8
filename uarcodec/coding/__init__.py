"""How parameters become integers and bits: seeded init, RQEC quantization, entropy coding."""

from uarcodec.coding.entropy import (
    CODER_ID,
    EncodedTensor,
    coder_version,
    decode_tensor,
    encode_tensor,
    ideal_bits,
    symbol_range,
)
from uarcodec.coding.init import seeded_params, seeded_tensor
from uarcodec.coding.quant import (
    FixedBitsQuantizer,
    TensorQuantizer,
    dequantize,
    estimate_bits,
    gaussian_params,
    initial_step,
    interpolated_reference,
    laplace_params,
    quantize_residual,
)

__all__ = [
    "CODER_ID",
    "EncodedTensor",
    "FixedBitsQuantizer",
    "TensorQuantizer",
    "coder_version",
    "decode_tensor",
    "dequantize",
    "encode_tensor",
    "estimate_bits",
    "gaussian_params",
    "ideal_bits",
    "initial_step",
    "interpolated_reference",
    "laplace_params",
    "quantize_residual",
    "seeded_params",
    "seeded_tensor",
    "symbol_range",
]
