/// The fused first block (Conv2d → BatchNorm2d → LIF → 2 × 2 pooling, `ConvBatchNormLifPool`) against its layers run
/// one after the other (the same module with `SpikeLinearOptions.Dense`: libtorch's convolution, then the block).
module Snn.Tests.ConvBatchNormLifPoolTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tests.Assertions

type private Tensor = torch.Tensor

let private lif = { LifParameters.Default with TauMem = 2.0 }
let private w2Neuron = { lif with Scheme = ForwardEuler; Surrogate = Sigmoid 4.0 }

/// A fused block and a copy with the same parameters that runs its layers (Dense), with random batch-norm
/// parameters and the conv scaled by `gain`.
let private pair (neuron: LifParameters) (inChannels: int) (channels: int) (kernel: int) (gain: float) =
    torch.manual_seed 17L |> ignore
    let fused = new ConvBatchNormLifPool("fused", inChannels, channels, kernel, neuron, Fused, SpikeLinearOptions.Default)
    fused.Conv.Scale gain |> ignore
    do
        use _ = torch.no_grad ()
        fused.Block.BatchNorm.Weight.copy_ (torch.rand (int64 channels) + 0.5f) |> ignore
        fused.Block.BatchNorm.Bias.copy_ (torch.rand (int64 channels) * 0.6f) |> ignore
    let layers = new ConvBatchNormLifPool("layers", inChannels, channels, kernel, neuron, Fused, SpikeLinearOptions.Dense)
    layers.load_state_dict (fused.state_dict ()) |> ignore
    fused, layers

/// Output, the gradients of Σ r·y (fixed random r) for the conv's and the batch norm's parameters, and the running
/// estimates afterwards.
let private run (block: ConvBatchNormLifPool) (x: Tensor) =
    for p in block.parameters () do p.grad <- null
    let y = block.forward x
    let r = centredUniform 9UL torch.float32 y.shape
    Diff.backward ((y * r).sum ())
    let bn = block.Block.BatchNorm
    [ "output", values y; "conv weight gradient", values block.Conv.Weight.grad; "bn weight gradient", values bn.Weight.grad
      "bn bias gradient", values bn.Bias.grad; "running mean", values bn.RunningMean; "running variance", values bn.RunningVar ],
    values block.Conv.Bias.grad

/// Asserts that the fused block and its layers agree: spikes identical, gradients and running estimates within
/// `relative` of their largest magnitude; the conv bias gets 0 from the fused block and rounding noise from the layers.
let private agrees (neuron: LifParameters) (inChannels: int) (channels: int) (kernel: int) (gain: float) (x: Tensor) =
    let fused, layers = pair neuron inChannels channels kernel gain
    Expect.isTrue (fused.Fuses x) "the fused kernel runs"
    Expect.isFalse (layers.Fuses x) "Dense runs the layers"
    let f, fusedBias = run fused x
    let l, layersBias = run layers x
    for (what, a), (_, b) in List.zip f l do
        if what = "output" then Expect.sequenceEqual a b "the same spikes"
        else
            let scale = b |> Array.map abs |> Array.max
            allClose (2e-5 * max scale 1.0) b a what
    Expect.isTrue (fusedBias |> Array.forall (fun g -> g = 0.0)) "the fused conv bias gradient is 0"
    let weightScale = snd l.[1] |> Array.map abs |> Array.max
    Expect.isTrue (layersBias |> Array.forall (fun g -> abs g <= 1e-5 * weightScale)) "the layers' conv bias gradient is rounding noise"
    let output = snd f.[0]
    Expect.isTrue (output |> Array.exists (fun s -> s = 1.0) && output |> Array.exists (fun s -> s = 0.0)) "some windows spike, some do not"
    Expect.isTrue (snd f.[1] |> Array.exists (fun g -> g <> 0.0)) "the weight gradient is not trivially zero"

/// Binary event frames [T; B; C; H; W] with `rate` active.
let private events (shape: int64[]) (rate: float32) =
    torch.manual_seed 5L |> ignore
    torch.bernoulli (torch.full (shape, rate.ToScalar ()))

let tests =
    testList "ConvBatchNormLifPool" [
        test "= Conv2d, BatchNorm2d, LIF, MaxPool2x2: W2's first block (2 channels, 3 × 3, binary frames)" {
            agrees w2Neuron 2 8 3 8.0 (events [| 4L; 3L; 2L; 16L; 16L |] 0.2f)
        }
        test "= the layers: W2's width (24 windows per row: a 16-window block and an 8-window one), windows with several spikes" {
            agrees w2Neuron 2 4 3 12.0 (events [| 2L; 2L; 2L; 48L; 48L |] 0.4f)
        }
        test "= the layers: one channel, 5 × 5, planes that are not whole vectors, real-valued input, ATan" {
            torch.manual_seed 6L |> ignore
            agrees lif 1 5 5 2.0 (torch.randn ([| 3L; 2L; 1L; 10L; 14L |]))
        }
        test "= the layers: event counts, 4 channels (36 inputs per window), soft reset" {
            torch.manual_seed 7L |> ignore
            agrees { lif with Reset = Soft; DetachReset = true } 4 6 3 3.0 ((torch.randint (4L, [| 3L; 2L; 4L; 12L; 8L |])).float ())
        }
        test "without gradient mode (no charges kept) the fused node runs and gives the same spikes" {
            let x = events [| 3L; 2L; 2L; 12L; 12L |] 0.3f
            let fused, _ = pair w2Neuron 2 6 3 8.0
            let withGradient = values (fused.forward x)
            let without =
                use _ = torch.no_grad ()
                Expect.isTrue (fused.Fuses x) "the fused kernel runs in training mode without gradients"
                values (fused.forward x)
            Expect.sequenceEqual without withGradient "the same spikes"
        }
        test "the results do not depend on the number of threads" {
            let x = events [| 3L; 2L; 2L; 12L; 12L |] 0.3f
            let once () =
                let fused, _ = pair w2Neuron 2 6 3 8.0
                let r, _ = run fused x
                r |> List.map snd
            let all = once ()
            FusedKernelSettings.Parallel <- false
            let one = try once () finally FusedKernelSettings.Parallel <- true
            for a, b in List.zip all one do Expect.sequenceEqual b a "same bits"
        }
        test "evaluation mode, an input that needs a gradient, Dense, odd outputs, the reference kernel and wide windows run the layers" {
            let x = events [| 2L; 2L; 2L; 8L; 8L |] 0.3f
            let fused, layers = pair w2Neuron 2 4 3 8.0
            Expect.isFalse (fused.Fuses (x.detach().requires_grad_ true)) "an input that needs a gradient does not fuse"
            fused.eval ()
            layers.eval ()
            Expect.isFalse (fused.Fuses x) "evaluation does not fuse"
            do
                use _ = torch.no_grad ()
                Expect.sequenceEqual (values (fused.forward x)) (values (layers.forward x)) "evaluation = the layers"
            let odd = new ConvBatchNormLifPool("odd", 2, 4, 3, w2Neuron, Fused, SpikeLinearOptions.Default)
            Expect.isFalse (odd.Fuses (events [| 2L; 2L; 2L; 7L; 8L |] 0.3f)) "an odd output height does not fuse"
            Expect.isFalse (odd.Fuses (torch.zeros ([| 4L; 2L; 8L; 8L |]))) "an input that is not time-first [T; B; C; H; W] does not fuse"
            Expect.equal (odd.forward (events [| 2L; 2L; 2L; 7L; 8L |] 0.3f)).shape [| 2L; 2L; 4L; 3L; 4L |] "odd height pools like MaxPool2d"
            let reference = new ConvBatchNormLifPool("reference", 2, 4, 3, w2Neuron, Reference, SpikeLinearOptions.Default)
            Expect.isFalse (reference.Fuses x) "the reference kernel does not fuse"
            let widest = new ConvBatchNormLifPool("widest", 8, 4, 3, w2Neuron, Fused, SpikeLinearOptions.Default)
            Expect.isTrue (widest.Fuses (events [| 2L; 2L; 8L; 8L; 8L |] 0.3f)) "72 inputs per window (MaximumWindow) fuse"
            let wide = new ConvBatchNormLifPool("wide", 9, 4, 3, w2Neuron, Fused, SpikeLinearOptions.Default)
            Expect.isFalse (wide.Fuses (events [| 2L; 2L; 9L; 8L; 8L |] 0.3f)) "81 inputs per window (over MaximumWindow) do not fuse"
        }
        test "NaN input is rejected naming NaN; a wrong channel count names x" {
            let fused, _ = pair w2Neuron 2 4 3 8.0
            let x = events [| 2L; 2L; 2L; 8L; 8L |] 0.3f
            x.[1, 0, 1, 3, 5] <- torch.tensor Single.NaN
            let nan = argumentError (fun () -> fused.forward x |> ignore)
            Expect.stringContains nan.Message "NaN" "the message names NaN"
            let wrong = argumentError (fun () -> fused.forward (torch.zeros ([| 2L; 2L; 3L; 8L; 8L |])) |> ignore)
            Expect.equal wrong.ParamName "x" "names x"
        }
        test "state dict keys are the conv's and the block's" {
            let block = new ConvBatchNormLifPool("first", 2, 4, 3, w2Neuron, Fused, SpikeLinearOptions.Default)
            let keys = block.state_dict().Keys |> Seq.sort |> List.ofSeq
            Expect.equal keys [ "block.bn.bias"; "block.bn.num_batches_tracked"; "block.bn.running_mean"; "block.bn.running_var"
                                "block.bn.weight"; "conv.bias"; "conv.weight" ] "keys"
        }
    ]
