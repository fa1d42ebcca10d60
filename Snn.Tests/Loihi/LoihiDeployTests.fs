/// Deployment of any chain of synapses and IF/LIF/CuLIF neurons on Loihi (`Deploy`): the float CUBA network spikes
/// like the trained module one step later per layer, the emulator runs the quantized network, and layers that have
/// no Loihi counterpart are refused with their name and the reason.
module Snn.Tests.LoihiDeployTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Loihi
open Snn.Modules
open Snn.Neurons
open Snn.Tensors

/// Binary spikes [T; B; F] with the given firing probability, seeded.
let private spikes (seed: int) (steps: int64) (batch: int64) (features: int64) (p: float) =
    torch.manual_seed (int64 seed) |> ignore
    let r : Tensor = torch.rand ([| steps; batch; features |], dtype = torch.float32)
    r.lt(torch.tensor p).``to`` torch.float32

/// Removes every bias, so the float model's steps before the first input (Loihi's latency) carry nothing.
let private zeroBiases (m: torch.nn.Module) =
    use _ = torch.no_grad ()
    for struct (name, p) in m.named_parameters () do
        if name.EndsWith "bias" then p.zero_ () |> ignore

/// Spikes of every layer of a module chain for one sample, as [layer][t * n + j], computed by running the chain's
/// leaves in order (the same modules the deployment maps).
let private compareWithFloatModel (network: FloatNetwork) (layerSpikes: float[][]) (steps: int) (input: float[]) =
    let features = network.Layers.[0].Count
    let total = steps + network.Layers.Length
    let simulated =
        FloatNetwork.simulate network (Array.init total (fun t -> Array.init features (fun f -> t < steps && input.[t * features + f] > 0.0))) total None
    let mutable compared = 0
    for l in 1 .. network.Layers.Length - 1 do
        let n = network.Layers.[l].Count
        for t in 0 .. steps - 1 do
            for j in 0 .. n - 1 do
                let expected = layerSpikes.[l - 1].[t * n + j] > 0.0
                if expected then compared <- compared + 1
                Expect.equal simulated.[l].[t + l].[j] expected $"layer {l}, step {t}, neuron {j}"
    compared

let tests =
    testList "LoihiDeploy" [
        test "a trained DenseSnn (LIF, exact leak) maps layer by layer and spikes like the module one step later per layer" {
            torch.manual_seed 3L |> ignore
            let neuron = { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }
            use model = new DenseSnn(6, 12, 4, neuron, 6.0)
            zeroBiases model
            let network = Deploy.toFloatNetwork [| 6 |] model
            let beta = exp (-10.0 / 20.0)
            Expect.equal (network.Layers |> Array.map (fun l -> l.Count)) [| 6; 12; 4 |] "input, hidden, output"
            Expect.floatClose Accuracy.high network.Layers.[1].VoltageDecay (1.0 - beta) "voltageDecay = 1 - β"
            Expect.equal network.Layers.[1].CurrentDecay 1.0 "no synaptic memory: I = a"
            let w1 = model.parameters () |> Seq.head |> toFloat64Array
            match network.Layers.[1].Incoming with
            | Some (FloatDense (6, w)) -> Expect.floatClose Accuracy.high w.[5] (w1.[5] * (1.0 - beta)) "weights scaled by 1 - β"
            | other -> failtest $"a dense connection of 6 inputs expected, got %A{other}"
            use x = spikes 4 15L 1L 6L 0.5
            let hidden, output =
                use _ = torch.no_grad ()
                let layers = [ for struct (_, m) in model.named_children () -> m :?> torch.nn.Module<Tensor, Tensor> ]
                let h = layers.[1].forward (layers.[0].forward x)
                let o = layers.[3].forward (layers.[2].forward h)
                toFloat64Array h, toFloat64Array o
            let compared = compareWithFloatModel network [| hidden; output |] 15 (toFloat64Array x)
            Expect.isGreaterThan compared 0 "some spikes compared"
        }
        test "a LIF synapse bias becomes the voltage bias (1 - β) b" {
            torch.manual_seed 5L |> ignore
            use model = new DenseSnn(4, 3, 2, { LifParameters.Default with TauMem = 10.0; Dt = 1.0; Scheme = ForwardEuler })
            let network = Deploy.toFloatNetwork [| 4 |] model
            let bias = model.named_parameters () |> Seq.pick (fun struct (n, p) -> if n = "fc1.inner.bias" then Some (toFloat64Array p) else None)
            Expect.floatClose Accuracy.high network.Layers.[1].VoltageDecay 0.1 "Euler: β = 1 - dt/τ"
            for j in 0 .. 2 do Expect.floatClose Accuracy.high network.Layers.[1].Bias.[j] (bias.[j] * 0.1) $"bias {j}"
        }
        test "a conv → flatten → dense chain of CuLIF and IF layers maps and spikes like the module" {
            torch.manual_seed 8L |> ignore
            let cu = { CuLifParameters.Default with Dt = 1.0; TauSyn = 5.0; TauMem = 10.0; VThreshold = 0.5 }
            let chain =
                new SpikingSequential ("chain",
                    [| TimeLayers.conv2d "conv" 2 3 3 1 1
                       new CuLifLayer ("neurons1", cu)
                       new TimeFlatten ("flatten")
                       new TimeDistributed ("fc", torch.nn.Linear (3L * 4L * 4L, 5L, hasBias = false))
                       new IfLayer ("neurons2", { IfParameters.Default with VThreshold = 0.8 }) |])
            zeroBiases chain
            use _ = torch.no_grad ()
            for struct (name, p) in chain.named_parameters () do
                if name.EndsWith "weight" then p.mul_ (torch.tensor 3.0f) |> ignore
            let network = Deploy.toFloatNetwork [| 2; 4; 4 |] chain
            Expect.equal (network.Layers |> Array.map (fun l -> l.Count)) [| 32; 48; 5 |] "input 2x4x4, conv 3x4x4, dense 5"
            let alpha, beta = CuLif.decays cu
            Expect.floatClose Accuracy.high network.Layers.[1].CurrentDecay (1.0 - alpha) "CuLIF current decay"
            Expect.equal network.Layers.[2].VoltageDecay 0.0 "IF: no leak"
            use x = spikes 9 12L 1L 32L 0.5
            let layers : torch.nn.Module<Tensor, Tensor>[] = chain.Layers
            let x4 = x.reshape (12L, 1L, 2L, 4L, 4L)
            let c = layers.[1].forward (layers.[0].forward x4)
            let o = layers.[4].forward (layers.[3].forward (layers.[2].forward c))
            let compared = compareWithFloatModel network [| toFloat64Array c; toFloat64Array o |] 12 (toFloat64Array x)
            Expect.isGreaterThan compared 0 "some spikes compared"
        }
        test "a SpikeConv2d maps like the torch Conv2d with the same weights" {
            let neuron = { IfParameters.Default with VThreshold = 0.8 }
            let chain (conv: torch.nn.Module<Tensor, Tensor>) =
                new SpikingSequential ("chain", [| new TimeDistributed ("conv", conv); new IfLayer ("neurons", neuron) |])
            let spiking = new SpikeConv2d ("conv", 8, 3, 3, 1, 1, true, SpikeLinearOptions.Default)
            let plain = torch.nn.Conv2d (8L, 3L, 3L, padding = 1L)
            let copyWeights () =
                use _ = torch.no_grad ()
                plain.weight.copy_ spiking.Weight |> ignore
                plain.bias.copy_ spiking.Bias |> ignore
            copyWeights ()
            let fromSpiking = Deploy.toFloatNetwork [| 8; 5; 6 |] (chain spiking)
            let fromPlain = Deploy.toFloatNetwork [| 8; 5; 6 |] (chain plain)
            Expect.equal (fromSpiking.Layers |> Array.map (fun l -> l.Count)) [| 240; 90 |] "input 8x5x6, conv 3x5x6"
            Expect.equal fromSpiking.Layers.[1].Incoming fromPlain.Layers.[1].Incoming "the same connection"
            Expect.equal fromSpiking.Layers.[1].Bias fromPlain.Layers.[1].Bias "the same biases"
        }
        test "the quantized DenseSnn runs on the emulator and classifies like its float model" {
            torch.manual_seed 3L |> ignore
            use model = new DenseSnn(6, 12, 4, { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }, 6.0)
            zeroBiases model
            let network = Deploy.toFloatNetwork [| 6 |] model
            let quantized = Deploy.quantize [| 6 |] model
            let samples, steps = 20, 10
            use x = (spikes 11 (int64 steps) (int64 samples) 6L 0.5).transpose(0L, 1L).contiguous ()
            let data = toFloat64Array x
            let total = steps + network.Layers.Length
            // The float model's class per sample: the output with the most spikes over the same T + layers steps.
            let floatCounts =
                Array.init samples (fun s ->
                    let input = Array.init total (fun t -> Array.init 6 (fun f -> t < steps && data.[(s * steps + t) * 6 + f] > 0.0))
                    let out = (FloatNetwork.simulate network input total None).[network.Layers.Length - 1]
                    Array.init 4 (fun j -> out |> Array.sumBy (fun row -> if row.[j] then 1 else 0)))
            let floatClasses = Deploy.predictions floatCounts 0 4
            Expect.isGreaterThan (floatCounts |> Array.sumBy Array.sum) 0 "the float model's outputs fire"
            use labels = torch.tensor (floatClasses |> Array.map int64)
            let agreement, profile = Deploy.evaluate ChipConstants.Loihi2 quantized x labels
            Expect.isGreaterThanOrEqual agreement 0.9 $"the emulator picks the float model's class for {agreement * 100.0}%% of the samples"
            Expect.equal profile.Steps (samples * total) "every sample runs T + 3 layers steps"
        }
        test "what cannot be mapped is refused with the layer's name and the reason" {
            let refused (model: torch.nn.Module) (inputs: int[]) (layer: string) (reason: string) =
                let e = Expect.throwsC (fun () -> Deploy.toFloatNetwork inputs model |> ignore) id
                Expect.stringContains e.Message $"'{layer}'" "names the layer"
                Expect.stringContains e.Message reason "says why"
            use soft = new DenseSnn(4, 3, 2, { LifParameters.Default with Reset = Soft })
            refused soft [| 4 |] "lif1" "resets hard"
            use plif = new SpikingSequential ("s", [| new TimeDistributed ("fc", torch.nn.Linear (4L, 3L)); new PlifLayer ("p", PlifParameters.Default, [||]) |])
            refused plif [| 4 |] "p" "PlifLayer"
            use biased = new SpikingSequential ("s", [| new TimeDistributed ("fc", torch.nn.Linear (4L, 3L)); new CuLifLayer ("c", CuLifParameters.Default) |])
            use _ = torch.no_grad ()
            for struct (n, p) in biased.named_parameters () do if n.EndsWith "bias" then (p :> Tensor).fill_ (0.5) |> ignore
            refused biased [| 4 |] "fc" "bias"
            use twice = new SpikingSequential ("s", [| new TimeDistributed ("a", torch.nn.Linear (4L, 3L)); new TimeDistributed ("b", torch.nn.Linear (3L, 3L)) |])
            refused twice [| 4 |] "b" "without neurons"
            use wrongSize = new DenseSnn(4, 3, 2, LifParameters.Default)
            refused wrongSize [| 5 |] "fc1" "takes 4 inputs"
        }
    ]
