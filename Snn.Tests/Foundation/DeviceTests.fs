/// Every tensor the library creates follows its module's or input's device. Checked on libtorch's `meta` device
/// (shapes without storage, no CUDA needed): an op that meets a CPU tensor of one or more dimensions there fails with
/// "Expected all tensors to be on the same device", so a forward and backward pass that ends on the meta device made
/// nothing on the CPU that it used. (A 0-dim CPU tensor mixes with any device, as on CUDA, so those are not caught.)
/// libtorch without Python registers meta kernels for only part of its operators: runs through torch.where, abs,
/// relu, batch norm, convolution, index_select or mse_loss's backward cannot be checked here (bench/RESULTS.md,
/// "Devices", lists them).
module Snn.Tests.DeviceTests

open Expecto
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Modules
open Snn.Tensors

let private meta = torch.device DeviceType.META

/// A float32 tensor of this shape on the meta device.
let private onMeta (shape: int64[]) : Tensor = torch.zeros (shape, device = meta)

/// A meta leaf that records gradients.
let private leaf (shape: int64[]) : Tensor = (onMeta shape).requires_grad_ true

/// Class indices [B] on the meta device.
let private labels (batch: int64) : Tensor = torch.zeros ([| batch |], dtype = torch.int64, device = meta)

let private isMeta (what: string) (t: Tensor) =
    Expect.isNotNull (box t) $"{what} exists"
    Expect.equal t.device_type DeviceType.META $"{what} is on the meta device"

/// Runs `f` on a meta leaf of `shape`: its output and the gradient of the output's sum must be on the meta device.
let private forwardBackward (what: string) (shape: int64[]) (f: Tensor -> Tensor) =
    let x = leaf shape
    let y = f x
    isMeta $"{what}: output" y
    Diff.backward (y.sum ())
    isMeta $"{what}: gradient" x.grad

/// Runs `f` forward only (for runs whose backward needs an operator without a meta kernel).
let private forwardOnly (what: string) (shape: int64[]) (f: Tensor -> Tensor) = isMeta $"{what}: output" (f (onMeta shape))

/// Moves a module to the meta device and returns it.
let private toMeta<'M when 'M :> torch.nn.Module> (m: 'M) : 'M =
    m.``to`` meta |> ignore
    m

/// A loss of the module's output on a meta input: output, loss and every parameter gradient on the meta device.
let private trains (what: string) (model: torch.nn.Module<Tensor, Tensor>) (input: Tensor) (loss: Tensor -> Tensor) =
    let y = model.call input
    isMeta $"{what}: output" y
    let l = loss y
    isMeta $"{what}: loss" l
    Diff.backward l
    for struct (name, p) in model.named_parameters () do
        if p.requires_grad then isMeta $"{what}: gradient of {name}" p.grad

let private steps, batch, neurons = 4L, 2L, 3L
let private sequence = [| steps; batch; neurons |]

let neuronTests =
    testList "neuron models" [
        for surrogate in [ ATan 2.0; Sigmoid 4.0; Gaussian 0.5 ] do
            test $"LIF with {surrogate}" {
                forwardBackward "LIF" sequence (Lif.unroll { LifParameters.Default with Surrogate = surrogate })
            }
        test "LIF: soft reset, refractory period, forward Euler, conductance input" {
            let p = { LifParameters.Default with Reset = Soft; RefractorySteps = 2; Scheme = ForwardEuler; TauMem = 4.0; Coupling = Conductance 2.0 }
            forwardBackward "LIF" sequence (Lif.unroll p)
        }
        test "LIF under a per-neuron threshold and an external current on the device" {
            let m = { Threshold = Some (onMeta [| neurons |] + 1.0f); ExternalCurrent = Some (onMeta [| neurons |]) }
            forwardBackward "LIF" sequence (fun x -> fst (Lif.unrollWith m LifParameters.Default None x))
        }
        test "recurrent LIF" {
            let recurrent = leaf [| neurons; neurons |]
            forwardBackward "recurrent LIF" sequence (Lif.unrollRecurrent LifParameters.Default recurrent)
            isMeta "recurrent weight gradient" recurrent.grad
        }
        test "IF" { forwardBackward "IF" sequence (If.unroll { IfParameters.Default with Reset = Soft }) }
        test "PLIF with one time constant per neuron" {
            let w = leaf [| neurons |]
            forwardBackward "PLIF" sequence (Plif.unroll PlifParameters.Default w)
            isMeta "PLIF weight gradient" w.grad
        }
        test "CuLIF (fixed decays) and PCuLIF (learned decays)" {
            forwardBackward "CuLIF" sequence (CuLif.unroll CuLifParameters.Default)
            let a, b = leaf [| neurons |], leaf [| neurons |]
            forwardBackward "PCuLIF" sequence (CuLif.unrollParametric Modulation.None CuLifParameters.Default a b)
            isMeta "PCuLIF a gradient" a.grad
            isMeta "PCuLIF b gradient" b.grad
        }
        test "adaptive threshold" { forwardBackward "adaptive threshold" sequence (AdaptiveThreshold.unroll AdaptiveThresholdParameters.Default) }
        test "AdLIF, filtered and unfiltered" {
            forwardBackward "AdLIF" sequence (AdLif.unroll AdLifParameters.Default)
            forwardBackward "AdLIF (Liu 2023)" sequence (AdLif.unroll AdLifParameters.Liu2023)
        }
        test "quadratic IF (the exponential's capped exponent has no meta backward: forward only)" {
            forwardBackward "QIF" sequence (NonlinearIf.unroll NonlinearIfParameters.DefaultQuadratic)
            forwardOnly "EIF" sequence (NonlinearIf.unroll NonlinearIfParameters.DefaultExponential)
        }
        test "Izhikevich, unbounded and bounded rate" {
            forwardBackward "Izhikevich" sequence (Izhikevich.unroll IzhikevichParameters.Default)
            forwardBackward "Izhikevich (bounded rate)" sequence (Izhikevich.unroll { IzhikevichParameters.Default with MinInterval = 2.0 })
        }
        test "ASGL's learnable width and noisy forward" {
            let width = (onMeta [| neurons |] + 1.0f).detach().requires_grad_ true
            let p = { LifParameters.Default with Surrogate = Asgl (LogisticRamp, width, 0.5) }
            forwardBackward "LIF with ASGL" sequence (Lif.unroll p)
            isMeta "ASGL width gradient" width.grad
        }
    ]

let layerTests =
    testList "layers" [
        test "every neuron layer, its membrane trace, under a threshold on the device" {
            let layers : NeuronLayer list =
                [ new IfLayer("if", IfParameters.Default); new ModulatedLifLayer("lif", LifParameters.Default)
                  new PlifLayer("plif", PlifParameters.Default, [| neurons |])
                  new CuLifLayer("culif", CuLifParameters.Default); new CuLifLayer("pculif", CuLifParameters.Default, true, [| neurons |])
                  new AdaptiveThresholdLayer("adaptive", AdaptiveThresholdParameters.Default); new AdLifLayer("adlif", AdLifParameters.Default)
                  new NonlinearIfLayer("qif", NonlinearIfParameters.DefaultQuadratic); new IzhikevichLayer("izhikevich", IzhikevichParameters.Default) ]
            for layer in layers do
                let layer = toMeta layer
                trains (layer.GetName ()) (layer :> torch.nn.Module<Tensor, Tensor>) (leaf sequence) (fun y -> y.sum ())
                isMeta $"{layer.GetName ()}: membrane" (layer.Membrane (onMeta sequence))
                layer.SetThreshold (onMeta [| neurons |] + 1.0f)
                trains $"{layer.GetName ()} (threshold)" (layer :> torch.nn.Module<Tensor, Tensor>) (leaf sequence) (fun y -> y.sum ())
        }
        test "LifLayer with the fused kernel falls back on the device" {
            forwardBackward "LifLayer" sequence (fun x -> (new LifLayer("lif", LifParameters.Default, Fused)).call x)
        }
        test "time layers: flatten, shared dropout, voting, sequential, linear, 2 x 2 pooling" {
            let net =
                toMeta (new SpikingSequential("net", [|
                    TimeLayers.maxPool2d "pool" 2; new TimeFlatten("flatten"); new SharedDropout("dropout", 0.5)
                    TimeLayers.linear "fc" 4 6; new LifLayer("lif", LifParameters.Default, Fused); new Voting("voting", 2) |]))
            net.train ()
            trains "sequential" net (leaf [| steps; batch; 1L; 4L; 4L |]) (fun y -> y.sum ())
            forwardBackward "MaxPool2x2Layer" [| batch; 1L; 4L; 4L |] (fun x -> (new MaxPool2x2Layer("pool")).call x)
        }
        for name, options in [ "dense", SpikeLinearOptions.Dense; "sparse (CPU-only, falls back)", { SpikeLinearOptions.Dense with Sparse = true }
                               "bf16", { SpikeLinearOptions.Dense with Bf16 = true } ] do
            test $"SpikeLinear, {name}" {
                let linear = toMeta (new SpikeLinear("linear", 3, 2, options))
                trains "SpikeLinear" linear (leaf sequence) (fun y -> y.sum ())
                Expect.isFalse linear.LastCallSparse "the sparse path runs CPU tensors only"
            }
        test "DenseSnn (fused kernel, spike-linear layers) trained by a count cross-entropy" {
            let net = toMeta (new DenseSnn(neurons |> int, 5, 2, LifParameters.Default, 1.0, Fused, Some SpikeLinearOptions.Dense))
            trains "DenseSnn" net (leaf sequence) (fun y -> Loss.crossEntropyOnCounts y (labels batch))
        }
        test "learned linear loss combiner" {
            let combiner = toMeta (new LinearLossCombiner(2, 0.5))
            trains "LinearLossCombiner" combiner (leaf [| batch; 2L |]) id
        }
    ]

let encodingTests =
    testList "encodings" [
        test "Poisson spikes follow the intensities' device" {
            isMeta "Poisson" (Encoding.poisson 7L (int steps) (onMeta [| batch; neurons |]))
        }
        test "spikes at given times, direct current" {
            isMeta "spikesAt" (Encoding.spikesAt (int steps) (onMeta [| batch; neurons |]))
            forwardBackward "direct current" [| batch; neurons |] (Encoding.directCurrent (int steps))
        }
    ]

let lossTests =
    let spikes = [| steps; batch; neurons |]
    let y = labels batch
    testList "losses" [
        test "losses with a backward on the device" {
            forwardBackward "count cross-entropy" spikes (fun z -> Loss.crossEntropyOnCounts z y)
            forwardBackward "membrane cross-entropy" spikes (fun z -> Loss.crossEntropyOnMembrane z y)
            forwardBackward "first-spike loss" spikes (fun z -> Loss.firstSpikeLoss 2.0 z y)
            forwardBackward "first-spike loss, silent ranked by peak" spikes (fun z ->
                Loss.firstSpikeLossWith (Loss.RankByPeakPotential (onMeta spikes)) 2.0 z y)
            forwardBackward "first-spike time regulariser" spikes (fun z -> Loss.firstSpikeTimeRegulariser z y)
            forwardBackward "SLAYER spike count" spikes (fun z -> Loss.slayerSpikeCount 3.0 1.0 z y)
            forwardBackward "TET" spikes (fun z -> Loss.tet 0.2 1.0 z y)
            forwardBackward "activity" spikes Loss.spikeActivity
            forwardBackward "combinators" spikes (fun z ->
                let a, b = Loss.crossEntropyOnCounts z y, Loss.spikeActivity z
                Loss.auxiliary 0.3 [| 0.5 |] (Loss.multiTask 0.2 a b) [| Loss.scale 2.0 b |])
        }
        test "rate losses (mse_loss and clamp have no meta backward: forward only)" {
            forwardOnly "rates to targets" spikes (fun z -> Loss.mseToRates z (onMeta [| batch; neurons |]))
            forwardOnly "firing-rate MSE" spikes (fun z -> Loss.mseFiringRate 0.5 0.0 z y)
            forwardOnly "spike rate" spikes (fun z -> Loss.spikeRate 0.5 0.0 z y)
            forwardOnly "rate bounds" spikes (Loss.firingRateBounds 0.1 0.5)
        }
    ]

let private tasks = [| LabelMap.ofLabels "parity" [| 0; 1; 0; 1 |]; LabelMap.ofLabels "half" [| 0; 0; 1; 1 |] |]

let modelTests =
    testList "models" [
        test "AL-SNN: main and auxiliary heads, per-sample losses, manual combination" {
            let features = new MlpBlock([| int neurons; 6 |], PlifParameters.Default, 0.0)
            let model = toMeta (new AlSnn(features, 6, 4, [| 2; 2 |], 2, PlifParameters.Default, 0.5))
            model.train ()
            let main, auxiliary, output =
                AuxiliaryLearning.perSampleLosses model tasks AuxiliaryLearning.crossEntropyOnCounts (leaf sequence) (labels batch)
            isMeta "auxiliary losses" auxiliary
            output.Auxiliary |> Array.iter (isMeta "auxiliary votes")
            let loss = AuxiliaryLearning.manual 0.3 [| 0.5; 0.25 |] main auxiliary
            isMeta "combined loss" loss
            Diff.backward loss
            for struct (name, p) in model.named_parameters () do isMeta $"gradient of {name}" p.grad
        }
        for kernel in [ Fused; Reference ] do
            for modulation in [ ByThreshold; ByCurrent ] do
                test $"TM-SNN ({kernel}, {modulation}): label and task losses, SynOps fraction" {
                    let config =
                        { TmSnnConfig.Thesis (int neurons) tasks with
                            FeatureSizes = [| 5 |]; LabelHidden = 4; TaskHidden = 3; Kernel = kernel; Modulation = modulation }
                    let model = toMeta (new TmSnn(config))
                    let settings = { TmSnnTraining.Settings.Default with Gamma = 0.3; LabelLoss = Loss.crossEntropyOnCounts }
                    let input = leaf sequence
                    let loss, output = TmSnnTraining.batchLossWithOutput model settings input (labels batch) 1
                    isMeta "task spikes" output.Tasks.Value
                    let synOps = ThresholdLearning.synOpsFraction model input output
                    isMeta "SynOps fraction" synOps
                    Diff.backward (loss + synOps)
                    for struct (name, p) in model.named_parameters () do isMeta $"gradient of {name}" p.grad
                }
    ]

let plasticityTests =
    let pre, post = [| steps; batch; 3L |], [| steps; batch; 2L |]
    testList "plasticity" [
        test "pair STDP: CPU zero traces follow the spikes" {
            let traces = Plasticity.zeroTraces [| batch; 3L |] [| batch; 2L |]
            let state, dw = Plasticity.stdp Plasticity.StdpParameters.Default Plasticity.Dense (onMeta [| 2L; 3L |]) traces (onMeta pre) (onMeta post)
            isMeta "weight update" dw
            isMeta "presynaptic trace" state.Pre
            isMeta "postsynaptic trace" state.Post
            let w, _ = Plasticity.stdpOnline { Plasticity.StdpParameters.Default with Dependence = Plasticity.Multiplicative } Plasticity.Dense (onMeta [| 2L; 3L |]) traces (onMeta pre) (onMeta post)
            isMeta "online weight" w
        }
        test "MSTDP: CPU rewards follow the spikes" {
            let p = Plasticity.RewardModulatedParameters.Default
            let traces = Plasticity.zeroTraces [| batch; 3L |] [| batch; 2L |]
            let _, dw = Plasticity.mstdpStep p Plasticity.Dense (onMeta [| 2L; 3L |]) traces (onMeta [| batch; 3L |]) (onMeta [| batch; 2L |]) (torch.ones ([| batch |]))
            isMeta "MSTDP update" dw
        }
        test "MSTDPET: the CPU zero eligibility follows the spikes" {
            let p = Plasticity.RewardModulatedParameters.Default
            let state = Plasticity.zeroEligibility [| batch; 3L |] [| batch; 2L |] [| 2L; 3L |]
            let state', total = Plasticity.mstdpet p Plasticity.Dense (onMeta [| 2L; 3L |]) state (onMeta pre) (onMeta post) (onMeta [| steps; batch |])
            isMeta "MSTDPET update" total
            isMeta "eligibility" state'.Eligibility
        }
        test "first-spike times" { isMeta "first-spike times" (Plasticity.firstSpikeTimes (onMeta pre)) }
    ]

let hypergradientTests =
    testList "hypergradient" [
        test "implicit hypergradient by the Neumann series" {
            let w, phi = leaf [| 3L |], leaf [| 3L |]
            let train (w: Tensor[]) (phi: Tensor[]) = (torch.sigmoid (w.[0] - phi.[0]) * w.[0]).sum ()
            let outer (w: Tensor[]) (_: Tensor[]) = (w.[0] * w.[0]).sum ()
            let g = Hypergradient.compute Hypergradient.InverseHessian.Default train outer [| w |] [| phi |]
            isMeta "hypergradient" g.[0]
        }
    ]

let tests =
    testList "Device (meta)" [ neuronTests; layerTests; encodingTests; lossTests; modelTests; plasticityTests; hypergradientTests ]
