/// The fused 2 × 2 max pooling against libtorch's max_pool2d: outputs and gradients, ties and NaN included.
module Snn.Tests.MaxPool2x2Tests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Tests.Assertions

/// Output and ∂/∂x of Σ r·pool(x) for fixed random r.
let private run (pool: torch.Tensor -> torch.Tensor) (x: torch.Tensor) =
    let leaf = x.detach().requires_grad_ true
    let y = pool leaf
    let r = centredUniform 7UL y.dtype y.shape
    Diff.backward ((y * r).sum ())
    y.detach().clone (), leaf.grad.clone ()

/// Whether two tensors of one shape hold the same values.
let private identical (a: torch.Tensor) (b: torch.Tensor) = a.shape = b.shape && (a.eq b).all().ToBoolean ()

/// Asserts bit-equal outputs and gradients of the fused kernel and libtorch on x.
let private agrees (x: torch.Tensor) =
    let y, g = run MaxPool2x2.apply x
    let yRef, gRef = run (fun t -> torch.nn.functional.max_pool2d (t, [| 2L; 2L |])) x
    Expect.equal y.shape yRef.shape "output shape"
    Expect.isTrue (identical (y.nan_to_num (nan = -7.0)) (yRef.nan_to_num (nan = -7.0))) "outputs are identical"
    Expect.isTrue (identical g gRef) "gradients are identical (each to the window's first maximum)"
    g

let tests =
    testList "MaxPool2x2" [
        // Windows per row: 24 (W = 48: a 16-window block, then an 8-window one), 33 (two blocks and an 8-window one
        // from 25), 12 (8-window blocks at 0 and 4), 8 (one 8-window block, W odd), 6 (rows in pairs, W2's third
        // pooling), 7 (one pair, then a row alone: H and W odd), 4 (one pair, then a row alone), 3 (scalar only).
        for shape in [ [| 3L; 5L; 6L; 48L |]; [| 4L; 10L; 66L |]; [| 2L; 3L; 6L; 24L |]; [| 3L; 5L; 17L |]; [| 2L; 3L; 12L; 12L |]
                       [| 2L; 5L; 15L |]; [| 2L; 3L; 7L; 9L |]; [| 2L; 3L; 6L; 7L |] ] do
            test $"binary spikes (ties everywhere) = max_pool2d, shape %A{shape}" {
                torch.manual_seed 11L |> ignore
                let g = agrees (torch.bernoulli (torch.zeros shape + 0.4))
                Expect.isTrue ((g.ne (torch.tensor 0.0f)).any().ToBoolean ()) "some gradient reaches the input"
            }
            test $"real values = max_pool2d, shape %A{shape}" {
                torch.manual_seed 12L |> ignore
                agrees (torch.randn shape) |> ignore
            }
        test "all-equal windows, -inf and NaN follow libtorch's choice" {
            let x = torch.zeros ([| 1L; 2L; 4L; 36L |])
            x.[0L, 0L, 0L, 5L] <- torch.tensor Single.NaN
            x.[0L, 0L, 1L, 4L] <- torch.tensor Single.NaN
            x.[0L, 1L, 2L, 10L] <- torch.tensor Single.NegativeInfinity
            x.[0L, 1L, 3L, 11L] <- torch.tensor 2.0f
            x.[0L, 1L, 0L, 32L] <- torch.tensor Single.NegativeInfinity
            x.[0L, 1L, 0L, 33L] <- torch.tensor Single.NegativeInfinity
            x.[0L, 1L, 1L, 32L] <- torch.tensor Single.NegativeInfinity
            x.[0L, 1L, 1L, 33L] <- torch.tensor Single.NegativeInfinity
            agrees x |> ignore
        }
        test "float64 falls back to libtorch's operator" {
            torch.manual_seed 13L |> ignore
            agrees (torch.randn ([| 2L; 3L; 8L; 8L |], dtype = torch.float64)) |> ignore
        }
        test "too small or flat input is refused with the parameter's name" {
            Expect.throwsT<ArgumentException> (fun () -> MaxPool2x2.apply (torch.zeros ([| 2L; 1L; 8L |])) |> ignore) "H = 1"
            Expect.throwsT<ArgumentException> (fun () -> MaxPool2x2.apply (torch.zeros ([| 8L; 8L |])) |> ignore) "2-D"
        }
        test "the layer pools time-distributed spikes like MaxPool2d" {
            torch.manual_seed 14L |> ignore
            let x = torch.bernoulli (torch.zeros ([| 3L; 2L; 4L; 16L; 16L |]) + 0.2)
            use fused = TimeLayers.maxPool2d "pool" 2
            use reference = new TimeDistributed("pool", torch.nn.MaxPool2d 2L)
            Expect.isTrue (identical (fused.forward x) (reference.forward x)) "same pooled spikes"
        }
    ]
