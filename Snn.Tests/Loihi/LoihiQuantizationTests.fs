/// Whole-network quantization: a float CUBA-LIF network against the bit-accurate emulation of its quantized form.
module Snn.Tests.LoihiQuantizationTests

open System
open Expecto
open Snn.Loihi

/// A seeded Gaussian sample (Box-Muller), so the test network is the same on every run.
let private gaussian (random: Random) (sigma: float) =
    sigma * sqrt (-2.0 * log (1.0 - random.NextDouble ())) * cos (2.0 * Math.PI * random.NextDouble ())

/// input 2x8x8 -> conv 4 channels 3x3 (stride 1, padding 1) -> dense 20 -> dense 6, with lava-dl-like decays.
let testNetwork (seed: int) : FloatNetwork =
    let random = Random seed
    let conv =
        { InChannels = 2; InHeight = 8; InWidth = 8; OutChannels = 4; KernelHeight = 3; KernelWidth = 3; StrideH = 1; StrideW = 1
          PaddingH = 1; PaddingW = 1; DilationH = 1; DilationW = 1; Groups = 1 }
    let layer name shape incoming cd vd threshold =
        let n = shape |> Array.fold (*) 1
        { Name = name; Shape = shape; Incoming = incoming; CurrentDecay = cd; VoltageDecay = vd; Threshold = threshold
          Bias = Array.init n (fun _ -> if incoming.IsSome then gaussian random 0.01 else 0.0); Recurrent = None }
    { Layers =
        [| layer "input" [| 2; 8; 8 |] None 0.0 0.0 0.0
           layer "conv" [| 4; 8; 8 |] (Some (FloatConv (conv, Array.init 72 (fun _ -> gaussian random 0.35)))) 0.25 0.03 1.0
           layer "hidden" [| 20 |] (Some (FloatDense (256, Array.init (20 * 256) (fun _ -> gaussian random 0.12)))) 0.5 0.1 1.25
           layer "output" [| 6 |] (Some (FloatDense (20, Array.init 120 (fun _ -> gaussian random 0.6)))) 0.2 0.05 1.0 |] }

/// Poisson input spikes at `rate` per step.
let inputSpikes (seed: int) (steps: int) (count: int) (rate: float) =
    let random = Random seed
    Array.init steps (fun _ -> Array.init count (fun _ -> random.NextDouble () < rate))

/// (neuron, step) pairs whose spike differs, over layers 1.., divided by the float run's spikes there.
let spikeDisagreement (expected: bool[][][]) (actual: bool[][][]) =
    let mutable differing, total = 0, 0
    for l in 1 .. expected.Length - 1 do
        for t in 0 .. expected.[l].Length - 1 do
            for j in 0 .. expected.[l].[t].Length - 1 do
                if expected.[l].[t].[j] then total <- total + 1
                if expected.[l].[t].[j] <> actual.[l].[t].[j] then differing <- differing + 1
    float differing / float (max 1 total), total

let private spikeCount (spikes: bool[][][]) (layer: int) = spikes.[layer] |> Array.sumBy (Array.sumBy (fun s -> if s then 1 else 0))

/// The agreement this test promises: at most this fraction of the float run's spikes (layers 1..3, 120 steps) may
/// differ. Measured over seeds 1..4: 3.8 %, 4.8 %, 5.0 %, 5.6 % (the conv layer alone 2-5 %; a flip near threshold
/// resets V and the trajectories part, so differences grow downstream). A current decay off by 1 % gives 11-20 %.
let tolerance = 0.08

let tests =
    testList "Loihi whole-network quantization" [
        test "lava-dl's mapping, layer by layer, with the scale folded into the threshold" {
            let net = testNetwork 1
            let q = NetworkQuantizer.quantize None net
            let hidden = q.Network.Layers.[2]
            let s = q.Scales.[2]
            let w = match net.Layers.[2].Incoming with Some c -> c.WeightValues | None -> [||]
            Expect.floatClose Accuracy.high (s * 64.0 * (w |> Array.map abs |> Array.max)) 254.0 "largest |w| -> 254"
            Expect.equal (hidden.Neurons.Du, hidden.Neurons.Dv) (2047, 410) "iDecay = round(4096 · 0.5) = du + 1; vDecay = round(409.6)"
            Expect.equal hidden.Neurons.Vth (int (Math.Floor (1.25 * s * 64.0))) "vThMant = floor(threshold · s · 64)"
            let mantissas = hidden.Incoming.Value.WeightValues
            Expect.all mantissas (fun m -> m % 2 = 0 && m >= -256 && m <= 254) "even 8-bit mantissas"
            Expect.isEmpty q.Clips "the automatic scale clips nothing"
            Expect.equal (NetworkQuantizer.report q) "no value was clipped" "report"
            Expect.equal (Netx.toTree q.Network |> Netx.violations) [] "the quantized network passes the NetX validator"
        }
        test "a fixed scale clips, and the report names every clipped value" {
            let net = testNetwork 2
            let q = NetworkQuantizer.quantize (Some [| 1.0; 8.0; 8.0; 8.0 |]) net
            let expected =
                [ for l in 1 .. 3 do
                    let layer = net.Layers.[l]
                    for i, w in Array.indexed layer.Incoming.Value.WeightValues do
                        let even = 2.0 * Math.Round (w * 8.0 * 32.0, MidpointRounding.ToEven)
                        if even > 254.0 || even < -256.0 then yield $"{layer.Name}/weight[{i}]" ]
            Expect.isGreaterThan expected.Length 10 "the test clips some weights"
            Expect.equal (q.Clips |> List.map (fun c -> c.Key) |> List.filter (fun k -> k.Contains "/weight[")) expected "every clipped weight, in order"
            Expect.all q.Clips (fun c -> c.Mantissa = 254 || c.Mantissa = -256) "clipped to the range ends"
            let report = NetworkQuantizer.report q
            Expect.stringStarts report $"{q.Clips.Length} values clipped:" "count"
            Expect.stringContains report expected.Head "names the first clipped value"
            let extreme = { net with Layers = net.Layers |> Array.mapi (fun i l -> if i = 3 then { l with CurrentDecay = 1.0; Threshold = 5000.0 } else l) }
            let q = NetworkQuantizer.quantize (Some [| 1.0; 1.0; 1.0; 1.0 |]) extreme
            Expect.exists q.Clips (fun c -> c.Key = "output/vThMant" && c.Mantissa = 131071) "threshold beyond 17 bits"
            Expect.equal q.Network.Layers.[3].Neurons.Du 4095 "a full current decay is iDecay 4096, du 4095"
        }
        test "float simulation and emulation of the same network agree on spikes within the stated tolerance" {
            let results =
                [ for seed in 1 .. 4 do
                    let net = testNetwork seed
                    let input = inputSpikes (100 + seed) 120 128 0.15
                    let floatSpikes = FloatNetwork.simulate net input 120 None
                    let q = NetworkQuantizer.quantize None net
                    let emulated = Emulator.run q.Network (InputSpikes input) (RunOptions.For 120)
                    yield spikeDisagreement floatSpikes emulated.Spikes, spikeCount floatSpikes 3 ]
            for (fraction, total), outputSpikes in results do
                Expect.isGreaterThan total 500 "enough spikes to measure"
                Expect.isGreaterThan outputSpikes 10 "the output layer is active"
                Expect.isLessThanOrEqual fraction tolerance $"fraction of differing spikes (measured %A{results |> List.map (fst >> fst)})"
        }
        test "the comparison is sensitive: a wrong decay mapping breaks the agreement" {
            let net = testNetwork 1
            let input = inputSpikes 101 120 128 0.15
            let floatSpikes = FloatNetwork.simulate net input 120 None
            let q = NetworkQuantizer.quantize None net
            // Forgetting Lava's hidden +1 on the current decay (du = iDecay instead of iDecay - 1) shifts the current.
            let wrong = { q.Network with Layers = q.Network.Layers |> Array.mapi (fun i l -> if i = 0 then l else { l with Neurons = { l.Neurons with Du = min 4095 (l.Neurons.Du + 40) } }) }
            let emulated = Emulator.run wrong (InputSpikes input) (RunOptions.For 120)
            Expect.isGreaterThan (fst (spikeDisagreement floatSpikes emulated.Spikes)) tolerance "a decay off by 1 % must fail the tolerance"
        }
        test "threshold modulation: new per-layer thresholds at run time equal re-quantizing, weights untouched" {
            let net = testNetwork 3
            let input = inputSpikes 7 80 128 0.15
            let q = NetworkQuantizer.quantize None net
            let modulated = [| 0.0; 0.7; 1.6; 0.8 |]
            let mantissas, clips = NetworkQuantizer.thresholdMantissas q modulated
            Expect.isEmpty clips "no threshold clipped"
            let atRunTime = Emulator.run q.Network (InputSpikes input) { RunOptions.For 80 with Thresholds = Some mantissas }
            let reQuantized =
                NetworkQuantizer.quantize (Some q.Scales) { net with Layers = net.Layers |> Array.mapi (fun i l -> { l with Threshold = modulated.[i] }) }
            Expect.equal (reQuantized.Network.Layers |> Array.map (fun l -> l.Incoming)) (q.Network.Layers |> Array.map (fun l -> l.Incoming)) "same weight mantissas"
            let again = Emulator.run reQuantized.Network (InputSpikes input) (RunOptions.For 80)
            Expect.equal atRunTime.Spikes again.Spikes "identical spikes"
            let base' = Emulator.run q.Network (InputSpikes input) (RunOptions.For 80)
            Expect.isGreaterThan (spikeCount atRunTime.Spikes 1) (spikeCount base'.Spikes 1) "a lower conv threshold spikes more"
            let floatSpikes = FloatNetwork.simulate net input 80 (Some modulated)
            Expect.isLessThanOrEqual (fst (spikeDisagreement floatSpikes atRunTime.Spikes)) tolerance "still agrees with the float network"
        }
        test "invalid float networks and scales are refused naming the layer or parameter" {
            let net = testNetwork 1
            let bad = { net with Layers = net.Layers |> Array.mapi (fun i l -> if i = 2 then { l with VoltageDecay = 1.5 } else l) }
            let e = Expect.throwsC (fun () -> NetworkQuantizer.quantize None bad |> ignore) id
            Expect.stringContains e.Message "layer 2 ('hidden'): VoltageDecay = 1.5" "names layer and field"
            let e = Expect.throwsC (fun () -> NetworkQuantizer.quantize (Some [| 1.0; 1.0; 0.0; 1.0 |]) net |> ignore) id
            Expect.equal (e :?> ArgumentException).ParamName "scales" "names the parameter"
        }
    ]
