/// The sparse-spike path of `SpikeConv2d` against libtorch's conv2d with the same weights.
module Snn.Tests.SpikeConv2dTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Tests.Assertions

let private sparse = { SpikeLinearOptions.Dense with Sparse = true; SparseActivityThreshold = 1.0 }

/// A SpikeConv2d and a torch Conv2d holding the same weights.
let private pair (inputs: int) (outputs: int) (kernel: int) (padding: int) (bias: bool) (options: SpikeLinearOptions) =
    conv2dPair options inputs outputs kernel padding bias

/// Compares the sparse path with libtorch on Bernoulli(activity) input [N; C; H; W].
let private agrees (n: int) (c: int) (o: int) (h: int) (w: int) (kernel: int) (padding: int) (bias: bool) (activity: float) (inputGrad: bool) =
    let layers = pair c o kernel padding bias sparse
    torch.manual_seed 4L |> ignore
    let x = torch.bernoulli (torch.zeros ([| int64 n; int64 c; int64 h; int64 w |]) + activity)
    let wd = convolutionMatches layers x inputGrad (fun l -> l.LastCallSparse) "sparse path" 1e-4 1e-4
    Expect.isTrue (wd |> Array.exists (fun g -> g <> 0.0)) "the weight gradient is not trivially zero"

let tests =
    testList "SpikeConv2d" [
        // 64 outputs: the AVX-512 register loops where the CPU has them; 19: the portable loops and their tails.
        for o in [ 64; 19 ] do
            for inputGrad in [ false; true ] do
                test $"sparse path = libtorch conv2d, 3 x 3, padding 1 ({o} outputs, input gradient {inputGrad})" {
                    agrees 5 8 o 9 11 3 1 true 0.12 inputGrad
                }
        test "more than 64 input channels (two mask words, the second partly used)" {
            agrees 3 70 64 6 5 3 1 true 0.1 true
        }
        test "kernel 5 with padding 2, kernel 3 without padding, and no bias" {
            agrees 4 3 16 10 8 5 2 false 0.2 true
            agrees 4 9 16 10 8 3 0 true 0.2 true
            agrees 2 4 8 7 7 5 1 true 0.3 false
        }
        test "an input without any spike gives the bias and no weight gradient" {
            let fast, dense = pair 8 8 3 1 true sparse
            let x = torch.zeros ([| 2L; 8L; 5L; 5L |])
            let yf, wf, bf, _ = outputAndGradients fast fast.Weight fast.Bias x false
            Expect.isTrue fast.LastCallSparse "the sparse path ran"
            let yd, wd, bd, _ = outputAndGradients dense dense.weight dense.bias x false
            allClose 1e-6 yd yf "output"
            Expect.isTrue (wf |> Array.forall (fun g -> g = 0.0)) "no weight gradient"
            allClose 1e-6 bd bf "bias gradient"
        }
        test "the results do not depend on the number of threads" {
            let fast, _ = pair 8 64 3 1 true sparse
            torch.manual_seed 6L |> ignore
            let x = torch.bernoulli (torch.zeros ([| 20L; 8L; 12L; 12L |]) + 0.15)
            let serial =
                FusedKernelSettings.Parallel <- false
                try outputAndGradients fast fast.Weight fast.Bias x true finally FusedKernelSettings.Parallel <- true
            let shared = outputAndGradients fast fast.Weight fast.Bias x true
            Expect.equal shared serial "the same bits with one thread and with all cores"
        }
        test "non-binary, NaN or too active input takes the dense convolution" {
            let fast, dense = pair 8 8 3 1 true { sparse with SparseActivityThreshold = 0.3 }
            torch.manual_seed 7L |> ignore
            let spikes = torch.bernoulli (torch.zeros ([| 2L; 8L; 6L; 6L |]) + 0.1)
            let counts = spikes * 2.0f
            let dense50 = torch.bernoulli (torch.zeros ([| 2L; 8L; 6L; 6L |]) + 0.5)
            for x, name in [ counts, "event counts"; dense50, "activity 0.5" ] do
                let yf, wf, _, _ = outputAndGradients fast fast.Weight fast.Bias x true
                Expect.isFalse fast.LastCallSparse $"{name}: the dense path ran"
                let yd, wd, _, _ = outputAndGradients dense dense.weight dense.bias x true
                allClose 1e-5 yd yf $"{name}: output"
                allClose 1e-5 wd wf $"{name}: weight gradient"
            let withNan = spikes.clone ()
            withNan.[0L, 1L, 2L, 3L] <- torch.tensor Single.NaN
            (fast.forward withNan).Dispose ()
            Expect.isFalse fast.LastCallSparse "NaN: the dense path ran"
            Expect.isTrue (fast.forward spikes |> ignore; fast.LastCallSparse) "the same layer takes binary spikes sparsely again"
        }
        test "a retained graph keeps the masks for a second backward pass" {
            let fast, dense = pair 8 16 3 1 true sparse
            torch.manual_seed 8L |> ignore
            let x = torch.bernoulli (torch.zeros ([| 3L; 8L; 7L; 7L |]) + 0.2)
            let y = fast.forward x
            Expect.isTrue fast.LastCallSparse "the sparse path ran"
            let loss = (y * y).sum ()
            loss.backward ([||], retain_graph = true)
            let first = values fast.Weight.grad
            fast.Weight.grad <- null
            // Other calls reuse the pooled arrays in between.
            for _ in 1 .. 3 do (fast.forward (torch.bernoulli (torch.zeros ([| 3L; 8L; 7L; 7L |]) + 0.3))).Dispose ()
            Diff.backward loss
            Expect.equal (values fast.Weight.grad) first "the same weight gradient from the second pass"
            let yd = dense.forward x
            ((yd * yd).sum ()).backward ()
            allClose 1e-4 (values dense.weight.grad) first "= libtorch's"
        }
        test "masks: activity, padding and errors" {
            let x = torch.zeros ([| 2L; 3L; 4L; 5L |])
            x.[1L, 2L, 3L, 4L] <- torch.tensor 1.0f
            x.[0L, 0L, 0L, 0L] <- torch.tensor 1.0f
            use m = (SparseConv2d.masksWithin 1.0 2 x).Value
            Expect.equal m.Entries 2L "two spikes"
            Expect.floatClose Accuracy.high m.Activity (2.0 / 120.0) "activity"
            Expect.equal (m.GridHeight, m.GridWidth) (8, 9) "grid with a border of 2"
            // Image 1, channel 2, pixel (3, 4) → grid (5, 6).
            Expect.equal m.Masks.[(1 * 8 * 9) + 5 * 9 + 6] (1UL <<< 2) "bit of channel 2"
            Expect.isNone (SparseConv2d.masksWithin 0.01 2 x) "above the threshold"
            Expect.throws (fun () -> SparseConv2d.masksWithin 1.0 -1 x |> ignore) "negative padding"
            Expect.throws (fun () -> SparseConv2d.masksWithin 1.0 1 (torch.zeros ([| 3L; 4L |])) |> ignore) "not [N; C; H; W]"
            let w = torch.zeros ([| 4L; 3L; 3L; 3L |])
            use m1 = (SparseConv2d.masksWithin 1.0 3 x).Value
            Expect.throws (fun () -> SparseConv2d.apply x m1 w null false |> ignore) "padding 3 with a 3 x 3 kernel"
            use m2 = (SparseConv2d.masksWithin 1.0 1 x).Value
            Expect.throws (fun () -> SparseConv2d.apply x m2 (torch.zeros ([| 4L; 2L; 3L; 3L |])) null false |> ignore) "channels differ"
            Expect.throws (fun () -> SparseConv2d.apply (torch.zeros ([| 1L; 3L; 4L; 5L |])) m2 w null false |> ignore) "masks of another shape"
        }
        test "Bf16InputGradient: the input gradient from bfloat16 operands, everything else float32" {
            let fast, reference = pair 8 64 3 1 true { sparse with Bf16InputGradient = true }
            torch.manual_seed 4L |> ignore
            let x = torch.bernoulli (torch.zeros ([| 5L; 8L; 9L; 11L |]) + 0.12)
            let _, xd, xf = convolutionOutputsMatch (fast, reference) x true (fun l -> l.LastCallSparse) "sparse path" 1e-4 1e-4
            use gradY = outputGradient [| 5L; 64L; 9L; 11L |]
            use product = Tensors.inBfloat16 (fun g w -> torch.nn.functional.conv_transpose2d (g, w, padding = [| 1L; 1L |])) gradY (fast.Weight.detach ())
            bf16InputGradient product xd xf
        }
        test "stride 2, and windows of fewer than MinimumSparseWindow inputs, take the dense convolution" {
            let strided = new SpikeConv2d("conv", 8, 4, 3, 2, 1, true, sparse)
            let y = strided.forward (torch.bernoulli (torch.zeros ([| 1L; 8L; 8L; 8L |]) + 0.1))
            Expect.isFalse strided.LastCallSparse "stride 2: dense"
            Expect.equal y.shape [| 1L; 4L; 4L; 4L |] "strided output"
            Expect.isLessThan (7 * 3 * 3) SpikeConv2d.MinimumSparseWindow "7 channels x 3 x 3 is below the minimum"
            let narrow = new SpikeConv2d("conv", 7, 4, 3, 1, 1, true, sparse)
            narrow.forward (torch.bernoulli (torch.zeros ([| 1L; 7L; 8L; 8L |]) + 0.1)) |> ignore
            Expect.isFalse narrow.LastCallSparse "7 x 3 x 3 inputs per window: dense"
            let wide = new SpikeConv2d("conv", 8, 4, 3, 1, 1, true, sparse)
            wide.forward (torch.bernoulli (torch.zeros ([| 1L; 8L; 8L; 8L |]) + 0.1)) |> ignore
            Expect.isTrue wide.LastCallSparse "8 x 3 x 3 inputs per window: sparse"
        }
    ]
