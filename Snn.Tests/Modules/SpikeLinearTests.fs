/// The sparse-spike and bfloat16 paths of `SpikeLinear` against torch.nn.Linear with the same weights.
module Snn.Tests.SpikeLinearTests

open System.Text.RegularExpressions
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Tests.Assertions

/// A SpikeLinear and a torch Linear holding the same weights.
let private pair (inputs: int) (outputs: int) (options: SpikeLinearOptions) =
    torch.manual_seed 3L |> ignore
    let fast = new SpikeLinear("fc", inputs, outputs, options)
    let dense = torch.nn.Linear (int64 inputs, int64 outputs)
    use _ = torch.no_grad ()
    dense.weight.copy_ fast.Weight |> ignore
    dense.bias.copy_ fast.Bias |> ignore
    fast, dense

let private sparse = { SpikeLinearOptions.Dense with Sparse = true; SparseActivityThreshold = 1.0 }

/// Asserts that a `pair` ran the sparse path on x and gives the dense layer's output and weight gradient (within
/// `tolerance`, sums over more inputs need more) and bias gradient (within 1e-5); returns the dense layer's weight
/// gradient, then the dense and the sparse input gradients (empty unless `inputGrad`).
let private sparseOutputsMatch (tolerance: float) (fast: SpikeLinear, dense: TorchSharp.Modules.Linear) (x: torch.Tensor) (inputGrad: bool) =
    let yf, wf, bf, xf = outputAndGradients fast fast.Weight fast.Bias x inputGrad
    Expect.isTrue fast.LastCallSparse "the sparse path ran"
    let yd, wd, bd, xd = outputAndGradients dense dense.weight dense.bias x inputGrad
    allClose tolerance yd yf "output"
    allClose tolerance wd wf "weight gradient"
    allClose 1e-5 bd bf "bias gradient"
    wd, xd, xf

/// Asserts that compressed rows list every nonzero entry of x [M; K] (float32) in order, with its value.
let private expectRows (rows: SpikeRows) (x: torch.Tensor) =
    let m, k = int x.shape.[0], int x.shape.[1]
    let dense = Array.init m (fun r -> Array.init k (fun c -> x.[r, c].item<float32> ()))
    let expected = [| for r in 0 .. m - 1 do for c in 0 .. k - 1 do if dense.[r].[c] <> 0.0f then yield r, c |]
    Expect.equal rows.Entries expected.Length "one entry per nonzero input"
    let listed = [| for r in 0 .. m - 1 do for e in rows.RowStart.[r] .. rows.RowStart.[r + 1] - 1 do yield r, rows.Columns.[e] |]
    Expect.sequenceEqual listed expected "rows and columns, ascending"
    for e in 0 .. rows.Entries - 1 do
        let r, c = expected.[e]
        Expect.isTrue (rows.Values.[e].Equals dense.[r].[c]) $"value of entry ({r}, {c})"

let tests =
    testList "SpikeLinear" [
        for activity in [ 0.05; 0.15 ] do
            for inputGrad in [ false; true ] do
                test $"sparse path = dense Linear on binary input (activity {activity}, input gradient {inputGrad})" {
                    // 37 inputs and 19 outputs: neither a multiple of the SIMD width, so the tails are exercised.
                    let fast, dense = pair 37 19 sparse
                    torch.manual_seed 4L |> ignore
                    let x = torch.bernoulli (torch.zeros ([| 6L; 5L; 37L |]) + activity)
                    let wd, xd, xf = sparseOutputsMatch 1e-5 (fast, dense) x inputGrad
                    allClose 1e-5 xd xf "input gradient"
                    Expect.isTrue (wd |> Array.exists (fun g -> g <> 0.0)) "the weight gradient is not trivially zero"
                    Expect.isTrue (wd |> Array.exists (fun g -> g = 0.0)) "inactive inputs get no weight gradient"
                }
        for counts, kind in [ false, "binary spikes"; true, "event counts" ] do
            test $"sparse path = dense Linear across 128-column blocks and a tail ({kind})" {
                // 300 outputs: two whole 128-column blocks (the AVX-512 path, where the CPU has it) and a 44-column
                // tail; 301 inputs: a partial group of 8 when the rows are compressed; 240 rows: several work items.
                let fast, dense = pair 301 300 sparse
                torch.manual_seed 9L |> ignore
                let spikes = torch.bernoulli (torch.zeros ([| 6L; 40L; 301L |]) + 0.1)
                let x = if counts then spikes * (torch.randint (3L, spikes.shape) + 1L).``to`` torch.float32 else spikes
                let _, xd, xf = sparseOutputsMatch 1e-4 (fast, dense) x true
                allClose 1e-5 xd xf "input gradient"
            }
        test "rows with no spike and a 2-D input" {
            let fast, dense = pair 20 9 sparse
            let x = torch.zeros ([| 4L; 20L |])
            x.[1L, 3L] <- torch.tensor 1.0f
            x.[3L, 19L] <- torch.tensor 1.0f
            let yf, wf, bf, _ = outputAndGradients fast fast.Weight fast.Bias x false
            let yd, wd, bd, _ = outputAndGradients dense dense.weight dense.bias x false
            Expect.isTrue fast.LastCallSparse "the sparse path ran"
            allClose 1e-6 yd yf "output"
            allClose 1e-6 wd wf "weight gradient"
            allClose 1e-6 bd bf "bias gradient"
        }
        test "event counts (values 2, 3) on the sparse path = dense Linear" {
            let fast, dense = pair 29 11 sparse
            torch.manual_seed 8L |> ignore
            let x = torch.bernoulli (torch.zeros ([| 12L; 29L |]) + 0.1) * (torch.randint (3L, [| 12L; 29L |]) + 1L).``to`` torch.float32
            let yf, wf, bf, xf = outputAndGradients fast fast.Weight fast.Bias x true
            Expect.isTrue fast.LastCallSparse "the sparse path ran"
            let yd, wd, bd, xd = outputAndGradients dense dense.weight dense.bias x true
            allClose 1e-5 yd yf "output"
            allClose 1e-5 wd wf "weight gradient"
            allClose 1e-5 bd bf "bias gradient"
            allClose 1e-5 xd xf "input gradient"
        }
        test "a second backward pass through the same graph gives the same weight gradient" {
            // The first pass retains the graph, so the layer keeps its compressed rows for the second.
            let fast, _ = pair 301 300 sparse
            torch.manual_seed 10L |> ignore
            let x = torch.bernoulli (torch.zeros ([| 50L; 301L |]) + 0.1)
            let loss = (fast.forward x * torch.linspace (-1.0, 1.0, 300L)).sum ()
            Expect.isTrue fast.LastCallSparse "the sparse path ran"
            let first = Diff.gradients [| loss |] None [| fast.Weight |] true false
            // Another input in between rents and returns pooled arrays; the kept rows must not be among them.
            let noGradForward () =
                use _ = torch.no_grad ()
                fast.forward (torch.bernoulli (torch.zeros ([| 50L; 301L |]) + 0.1)) |> ignore
            noGradForward ()
            let second = Diff.gradients [| loss |] None [| fast.Weight |] false false
            let differing = Array.map2 (fun (a: float) b -> if a = b then 0 else 1) (values first.[0]) (values second.[0]) |> Array.sum
            Expect.equal differing 0 "weight gradient elements that differ between the passes"
            Expect.isTrue (values first.[0] |> Array.exists (fun g -> g <> 0.0)) "the gradient is not trivially zero"
        }
        for activity in [ 0.05; 0.3; 0.9 ] do
            test $"compressed rows list every nonzero entry in order, NaN as nonzero and -0 as zero (activity {activity})" {
                // 301 columns: 18 groups of 16, then 8, then 5 (every packing width and the scalar tail).
                torch.manual_seed 7L |> ignore
                let x = torch.bernoulli (torch.zeros ([| 9L; 301L |]) + activity) * torch.randint (1L, 4L, [| 9L; 301L |])
                x.[2, 17] <- torch.tensor System.Single.NaN
                x.[4, 300] <- torch.tensor -0.0f
                x.[4, 299] <- torch.tensor 0.0f
                use rows = (SparseSpikes.rows x).Value
                expectRows rows x
            }
        // 40 rows: three work items of 16, 16 and 8 rows, each compressing into its own stretch in one pass.
        for name, density in [ "evenly sparse", (fun _ -> 0.1); "evenly dense", (fun _ -> 0.8)
                               "one item dense, the whole sparse", (fun r -> if r < 16 then 0.9 else 0.0)
                               "at the threshold", (fun r -> if r < 20 then 0.9 else 0.0) ] do
            test $"rows within an activity of 0.45 are the counted rows or none: {name}" {
                torch.manual_seed 8L |> ignore
                let p = (torch.tensor (Array.init 40 (fun r -> float32 (density r)))).unsqueeze 1L
                let x = torch.bernoulli (p.expand (40L, 301L))
                let activity = x.count_nonzero().item<int64> () |> float |> fun n -> n / (40.0 * 301.0)
                match SparseSpikes.rowsWithin 0.45 x with
                | Some rows ->
                    Expect.isLessThanOrEqual activity 0.45 "rows only within the activity"
                    use rows = rows
                    expectRows rows x
                | None -> Expect.isGreaterThan activity 0.45 "none only above the activity"
            }
        test "rows handed to SparseSpikes.linear stay the caller's; rows that are disposed are refused" {
            let fast, _ = pair 40 10 sparse
            let x = torch.bernoulli (torch.zeros ([| 8L; 40L |]) + 0.2)
            let rows = (SparseSpikes.rows x).Value
            Diff.backward ((SparseSpikes.linear x rows fast.Weight fast.Bias false).sum ())
            Expect.isFalse rows.Disposed "the caller's rows are not disposed by the backward pass"
            Expect.equal rows.Entries (int (x.count_nonzero().item<int64> ())) "one entry per nonzero input"
            (rows :> System.IDisposable).Dispose ()
            (rows :> System.IDisposable).Dispose ()
            Expect.isTrue rows.Disposed "disposed (twice, harmlessly)"
            Expect.throwsT<System.ArgumentException> (fun () -> SparseSpikes.linear x rows fast.Weight fast.Bias false |> ignore) "disposed rows"
        }
        test "dense analog input and activity above the threshold take the dense path" {
            let fast, dense = pair 16 8 { sparse with SparseActivityThreshold = 0.3 }
            let analog = torch.rand ([| 3L; 16L |])
            allClose 1e-6 (values (dense.forward analog)) (values (fast.forward analog)) "analog input"
            Expect.isFalse fast.LastCallSparse "analog input is not sparse-accumulated"
            let busy = torch.ones ([| 3L; 16L |])
            allClose 1e-5 (values (dense.forward busy)) (values (fast.forward busy)) "all-ones input"
            Expect.isFalse fast.LastCallSparse "activity 1 is above the threshold"
            // After a call above the threshold the next input is counted first; a sparse one still runs sparse.
            let spikes = torch.zeros ([| 3L; 16L |])
            spikes.[0, 3] <- torch.tensor 1.0f
            spikes.[2, 15] <- torch.tensor 1.0f
            allClose 1e-6 (values (dense.forward spikes)) (values (fast.forward spikes)) "sparse input after a dense one"
            Expect.isTrue fast.LastCallSparse "sparse input after a dense one"
        }
        test "bf16 path: float32 output and float32 gradients close to the dense layer" {
            let fast, dense = pair 64 32 { SpikeLinearOptions.Dense with Bf16 = true }
            torch.manual_seed 6L |> ignore
            let x = torch.bernoulli (torch.zeros ([| 10L; 64L |]) + 0.3)
            let yf, wf, bf, xf = outputAndGradients fast fast.Weight fast.Bias x true
            let yd, wd, bd, xd = outputAndGradients dense dense.weight dense.bias x true
            Expect.equal fast.Weight.grad.dtype torch.float32 "master weights get float32 gradients"
            // bfloat16 keeps 8 mantissa bits: relative error up to ~2^-8 per rounding.
            allClose 0.05 yd yf "output"
            allClose 0.02 wd wf "weight gradient"
            allClose 1e-5 bd bf "bias gradient (float32)"
            allClose 0.02 xd xf "input gradient"
        }
        test "Bf16InputGradient: the input gradient from bfloat16 operands, everything else float32" {
            let fast, dense = pair 64 32 { sparse with Bf16InputGradient = true }
            torch.manual_seed 6L |> ignore
            let x = torch.bernoulli (torch.zeros ([| 10L; 64L |]) + 0.1)
            let _, xd, xf = sparseOutputsMatch 1e-5 (fast, dense) x true
            use gradY = outputGradient [| 10L; 32L |]
            use product = Tensors.inBfloat16 (fun g w -> g.mm w) gradY (fast.Weight.detach ())
            bf16InputGradient product xd xf
        }
        test "the Fast options use bfloat16 exactly where the CPU reports native bfloat16, the default input gradients where it is faster" {
            let flags = if System.IO.File.Exists "/proc/cpuinfo" then System.IO.File.ReadAllText "/proc/cpuinfo" else ""
            let native = Regex.IsMatch (flags, @"\b(avx512_bf16|amx_bf16)\b")
            Expect.equal SpikeLinearOptions.NativeBf16 native "detection agrees with the CPU flags"
            Expect.equal SpikeLinearOptions.Fast { SpikeLinearOptions.Default with Bf16 = native } "Fast = Default plus native bfloat16"
            // Faster than float32: AMX, or AVX-512 BF16 on AMD (bench/RESULTS.md round 17); there the input gradients
            // of the sparse path run in bfloat16 by default.
            let faster = Regex.IsMatch (flags, @"\bamx_bf16\b") || (Regex.IsMatch (flags, @"\bavx512_bf16\b") && flags.Contains "AuthenticAMD")
            Expect.equal SpikeLinearOptions.FasterBf16 faster "FasterBf16 agrees with the CPU flags"
            Expect.equal SpikeLinearOptions.Default.Bf16InputGradient faster "the default input gradient is bfloat16 exactly there"
            let code, _, err = runSnn [ "train"; "--bf16"; "maybe"; "--epochs"; "1"; "--train-samples"; "8"; "--test-samples"; "8" ]
            Expect.notEqual code 0 "an unknown lever value is refused"
            Expect.stringContains err "maybe" "the bad value is named"
            let code, _, err = runSnn [ "train"; "--bf16-input-gradient"; "perhaps"; "--epochs"; "1"; "--train-samples"; "8"; "--test-samples"; "8" ]
            Expect.notEqual code 0 "an unknown input-gradient lever value is refused"
            Expect.stringContains err "perhaps" "the bad input-gradient value is named"
        }
    ]
