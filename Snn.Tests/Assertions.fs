/// Numeric assertions shared by the example tests.
module Snn.Tests.Assertions

open Expecto
open Snn.Tensors

/// Asserts that every element of `actual` is within `tolerance` of `expected` (absolute), naming the first miss.
let allClose (tolerance: float) (expected: float[]) (actual: float[]) (message: string) =
    Expect.equal actual.Length expected.Length $"{message}: length"
    for i in 0 .. expected.Length - 1 do
        if not (abs (expected.[i] - actual.[i]) <= tolerance) then
            failtestf "%s: element %d is %g, expected %g (tolerance %g)" message i actual.[i] expected.[i] tolerance

/// The elements of a tensor as floats.
let values (t: Tensor) : float[] = toFloat64Array t

/// A float64 tensor of the given shape from row-major values.
let shaped (shape: int64[]) (data: float[]) : Tensor = TorchSharp.torch.tensor(data).reshape shape

/// A float32 tensor of the given shape from row-major values.
let shaped32 (shape: int64[]) (data: float32[]) : Tensor = TorchSharp.torch.tensor(data).reshape shape
