/// The direct weight gradient of `SpikeConv2d` (few inputs per window) against libtorch's conv2d with the same weights.
module Snn.Tests.DirectConv2dTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Tests.Assertions

let private direct = { SpikeLinearOptions.Dense with Direct = true }

/// A SpikeConv2d with the direct kernel and a torch Conv2d holding the same weights.
let private pair = conv2dPair direct

/// Compares the direct kernel with libtorch on random input [N; C; H; W].
let private agrees (n: int) (c: int) (o: int) (h: int) (w: int) (kernel: int) (padding: int) (bias: bool) (inputGrad: bool) =
    let layers = pair c o kernel padding bias
    torch.manual_seed 4L |> ignore
    let x = torch.randn ([| int64 n; int64 c; int64 h; int64 w |])
    convolutionMatches layers x inputGrad (fun l -> l.LastCallDirect) "direct kernel" 1e-4 1e-3 |> ignore

let tests =
    testList "DirectConv2d" [
        if Runtime.Intrinsics.X86.Avx512F.IsSupported then
            test "W2's first layer = libtorch conv2d: 2 channels, 3 x 3, padding 1, 64 outputs, 48 x 48" {
                agrees 6 2 64 48 48 3 1 true false
            }
            // 19 outputs: tiles of 8 (forward) and 4 (weight gradient) and their remainders; 7 x 9 = 63 positions: a
            // last vector that redoes positions, and gradient planes that are not whole vectors.
            test "channel and position remainders, input gradient" {
                agrees 5 2 19 7 9 3 1 true true
            }
            test "kernel 5 with padding 2, kernel 3 without padding or with padding 2, no bias, one channel" {
                agrees 3 1 16 10 12 5 2 true true
                agrees 3 3 8 8 8 3 0 false true
                agrees 2 2 12 6 10 3 2 true false
            }
            test "8 channels (72 inputs per window, the widest), and a plane of 9 positions (one partial vector)" {
                agrees 3 8 16 9 7 3 1 true true
                agrees 4 2 8 5 5 3 0 true true
            }
            test "the results do not depend on the number of threads" {
                let fast, _ = pair 2 24 3 1 true
                torch.manual_seed 6L |> ignore
                let x = torch.randn ([| 20L; 2L; 12L; 16L |])
                let serial =
                    FusedKernelSettings.Parallel <- false
                    try outputAndGradients fast fast.Weight fast.Bias x false finally FusedKernelSettings.Parallel <- true
                Expect.equal (outputAndGradients fast fast.Weight fast.Bias x false) serial "the same bits with one thread and with all cores"
            }
            test "a retained graph keeps x for a second backward pass" {
                let fast, _ = pair 2 8 3 1 true
                let y = fast.forward (torch.randn ([| 3L; 2L; 8L; 8L |]))
                let loss = (y * y).sum ()
                loss.backward ([||], retain_graph = true)
                let first = values fast.Weight.grad
                fast.Weight.grad <- null
                Diff.backward loss
                Expect.equal (values fast.Weight.grad) first "the same weight gradient from the second pass"
            }
        test "Dense options, wide windows and stride 2 take libtorch's convolution throughout" {
            let x = torch.randn ([| 2L; 2L; 8L; 8L |])
            let dense = new SpikeConv2d("conv", 2, 8, 3, 1, 1, true, SpikeLinearOptions.Dense)
            dense.forward x |> ignore
            Expect.isFalse dense.LastCallDirect "Dense options"
            let wide = new SpikeConv2d("conv", 9, 8, 3, 1, 1, true, direct)
            wide.forward (torch.randn ([| 2L; 9L; 8L; 8L |])) |> ignore
            Expect.isFalse wide.LastCallDirect "81 inputs per window"
            let strided = new SpikeConv2d("conv", 2, 8, 3, 2, 1, true, direct)
            strided.forward x |> ignore
            Expect.isFalse strided.LastCallDirect "stride 2"
        }
    ]
