/// The fused BatchNorm2d → LIF → 2 × 2 pooling block against its three layers run one after the other.
module Snn.Tests.BatchNormLifPoolTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tests.Assertions

type private Tensor = torch.Tensor

/// The block's three layers as separate modules, holding the block's parameters (copied).
let private separate (block: BatchNormLifPool) (neuron: LifParameters) =
    let channels = block.BatchNorm.Channels
    let bn = new BatchNorm2dLayer("bn", channels)
    use _ = torch.no_grad ()
    bn.Weight.copy_ block.BatchNorm.Weight |> ignore
    bn.Bias.copy_ block.BatchNorm.Bias |> ignore
    let lif = new LifLayer("lif", neuron, Fused)
    let pool = new MaxPool2x2Layer("pool")
    fun (x: Tensor) ->
        let t, b = x.shape.[0], x.shape.[1]
        let currents = (bn.call (x.flatten (0L, 1L))).unflatten (0L, [| t; b |])
        (pool.call ((lif.call currents).flatten (0L, 1L))).unflatten (0L, [| t; b |])
    , bn

/// Output, ∂/∂x, ∂/∂weight, ∂/∂bias of Σ r·y for fixed random r, and the running estimates afterwards.
let private run (forward: Tensor -> Tensor) (weight: Tensor) (bias: Tensor) (runningMean: Tensor) (runningVar: Tensor) (x: Tensor) =
    weight.grad <- null
    bias.grad <- null
    let leaf = x.detach().requires_grad_ true
    let y = forward leaf
    let r = centredUniform 9UL torch.float32 y.shape
    Diff.backward ((y * r).sum ())
    [ "output", values y; "input gradient", values leaf.grad; "weight gradient", values weight.grad
      "bias gradient", values bias.grad; "running mean", values runningMean; "running variance", values runningVar ]

/// A block with random affine parameters (the bias shifted by `shift`: negative, fewer spikes), and input
/// currents [T; B; C; H; W].
let private setupShifted (shift: float32) (neuron: LifParameters) (shape: int64[]) =
    torch.manual_seed 21L |> ignore
    let block = new BatchNormLifPool("block", int shape.[2], neuron, Fused)
    use _ = torch.no_grad ()
    block.BatchNorm.Weight.copy_ (torch.rand (shape.[2]) + 0.5f) |> ignore
    block.BatchNorm.Bias.copy_ (torch.rand (shape.[2]) * 0.6f + shift) |> ignore
    block, torch.randn shape * 3.0f + 1.0f

/// A block whose neurons fire often.
let private setup = setupShifted 0.0f

/// Asserts that the block (fused) and its separate layers give the same values, bit for bit or within `tolerance`.
let private agreesShifted (shift: float32) (tolerance: float) (neuron: LifParameters) (shape: int64[]) =
    let block, x = setupShifted shift neuron shape
    Expect.isTrue (block.Fuses x) "the fused kernel runs"
    let layers, bn = separate block neuron
    let fused = run block.forward block.BatchNorm.Weight block.BatchNorm.Bias block.BatchNorm.RunningMean block.BatchNorm.RunningVar x
    let reference = run layers bn.Weight bn.Bias bn.RunningMean bn.RunningVar x
    for (what, f), (_, r) in List.zip fused reference do
        if tolerance = 0.0 then Expect.sequenceEqual f r $"{what} is identical"
        else allClose tolerance r f what
    let output = snd fused.[0]
    Expect.isTrue (output |> Array.exists (fun s -> s = 1.0) && output |> Array.exists (fun s -> s = 0.0)) "some windows spike, some do not"
    Expect.isTrue (snd fused.[1] |> Array.exists (fun g -> g <> 0.0)) "the input gradient is not trivially zero"
    Expect.equal (block.BatchNorm.BatchesTracked.ToInt64 ()) 1L "one batch tracked"

let private agrees = agreesShifted 0.0f

let private lif = { LifParameters.Default with TauMem = 2.0 }

let tests =
    testList "BatchNormLifPool" [
        // 8 × 6 planes: 48 values, whole vectors at 8 and 16 lanes, so even exp-based surrogates agree to the bit.
        for name, neuron in
            [ "hard reset, ATan", lif
              "hard reset, sigmoid, forward Euler (W2's neuron)", { lif with Scheme = ForwardEuler; Surrogate = Sigmoid 4.0 }
              "soft reset, detached", { lif with Reset = Soft; DetachReset = true }
              "no reset, fast sigmoid", { lif with Reset = NoReset; Surrogate = FastSigmoid 5.0 } ] do
            test $"= BatchNorm2d, LIF, MaxPool2x2 bit for bit: {name}" {
                agrees 0.0 neuron [| 4L; 3L; 5L; 8L; 6L |]
            }
        test "rare spikes (whole vectors of neurons get no gradient, whose surrogate is skipped) bit for bit" {
            agreesShifted -1.2f 0.0 { lif with Scheme = ForwardEuler; Surrogate = Sigmoid 4.0 } [| 6L; 3L; 4L; 8L; 32L |]
        }
        test "W2's third block (12 x 12 planes, pooled two rows of windows at a time) bit for bit" {
            agrees 0.0 { lif with Scheme = ForwardEuler; Surrogate = Sigmoid 4.0 } [| 3L; 2L; 4L; 12L; 12L |]
        }
        test "planes that are not whole vectors: the scalar tail (sigmoid within rounding)" {
            agrees 1e-6 { lif with Surrogate = Sigmoid 4.0 } [| 3L; 2L; 3L; 6L; 6L |]
            agrees 0.0 lif [| 3L; 2L; 3L; 2L; 2L |]
        }
        test "the results do not depend on the number of threads" {
            let block, x = setup lif [| 3L; 4L; 6L; 8L; 8L |]
            let once () = run block.forward block.BatchNorm.Weight block.BatchNorm.Bias block.BatchNorm.RunningMean block.BatchNorm.RunningVar x
            let serial =
                FusedKernelSettings.Parallel <- false
                try once () finally FusedKernelSettings.Parallel <- true
            let threaded = once ()
            // The running estimates moved twice; compare the call's own results.
            for (what, s), (_, p) in List.zip serial threaded |> List.take 4 do
                Expect.sequenceEqual p s $"{what} is identical"
        }
        test "a retained graph: a second backward pass gives the same gradients" {
            let block, x = setup lif [| 2L; 2L; 3L; 4L; 4L |]
            let leaf = x.detach().requires_grad_ true
            let y = block.forward leaf
            let weights = (torch.linspace (-1.0, 1.0, y.numel ())).reshape y.shape
            let loss = (y * weights).sum ()
            loss.backward (retain_graph = true)
            let first = values leaf.grad
            leaf.grad <- null
            loss.backward ()
            Expect.sequenceEqual (values leaf.grad) first "same input gradient"
        }
        test "evaluation mode, odd sizes and the reference kernel run the three layers" {
            let block, x = setup lif [| 2L; 2L; 3L; 4L; 4L |]
            let layers, bn = separate block lif
            block.eval ()
            bn.eval ()
            Expect.isFalse (block.Fuses x) "evaluation does not fuse"
            use _ = torch.no_grad ()
            Expect.sequenceEqual (values (block.forward x)) (values (layers x)) "evaluation = the three layers"
            let odd = new BatchNormLifPool("odd", 3, lif, Fused)
            Expect.isFalse (odd.Fuses (torch.randn ([| 2L; 2L; 3L; 5L; 4L |]))) "odd height does not fuse"
            Expect.equal (odd.forward (torch.randn ([| 2L; 2L; 3L; 5L; 4L |]))).shape [| 2L; 2L; 3L; 2L; 2L |] "odd height pools like MaxPool2d"
            let reference = new BatchNormLifPool("reference", 3, lif, Reference)
            Expect.isFalse (reference.Fuses x) "the reference kernel does not fuse"
        }
        test "NaN input is rejected like the LIF layer rejects it; a wrong channel count names x" {
            let block, x = setup lif [| 2L; 2L; 3L; 4L; 4L |]
            x.[0, 1, 2, 3, 3] <- torch.tensor Single.NaN
            let nan = argumentError (fun () -> block.forward x |> ignore)
            Expect.stringContains nan.Message "NaN" "the message names NaN"
            let wrong = argumentError (fun () -> block.forward (torch.randn ([| 2L; 2L; 4L; 4L; 4L |])) |> ignore)
            Expect.equal wrong.ParamName "x" "names x"
        }
        test "state dict keys are those of its BatchNorm2d child" {
            let block = new BatchNormLifPool("block", 4, lif, Fused)
            let keys = block.state_dict().Keys |> Seq.sort |> List.ofSeq
            Expect.equal keys [ "bn.bias"; "bn.num_batches_tracked"; "bn.running_mean"; "bn.running_var"; "bn.weight" ] "keys"
        }
    ]
