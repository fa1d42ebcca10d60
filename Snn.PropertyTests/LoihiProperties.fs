/// Invariants of the bit-accurate Loihi emulator (docs/loihi.md §1).
module Snn.PropertyTests.LoihiProperties

open Expecto
open FsCheck
open FsCheck.FSharp
open Snn.Loihi
open Snn.PropertyTests.Generators

let private input (count: int) : Layer =
    { Name = "in"; Shape = [| count |]; Neurons = { Du = 0; Dv = 0; Vth = 0; BiasExp = 0; BiasMant = Array.zeroCreate count }
      Incoming = None; WeightExp = 0; Delays = None; Recurrent = None }

let private dense (name: string) (inputs: int) (weights: int[]) (neurons: LayerNeurons) : Layer =
    { Name = name; Shape = [| neurons.BiasMant.Length |]; Neurons = neurons; Incoming = Some (Dense (inputs, weights))
      WeightExp = 0; Delays = None; Recurrent = None }

/// Random input spike trains: spikes.[t].[i].
let private spikeTrains (steps: int) (count: int) =
    Gen.arrayOfLength steps (Gen.arrayOfLength count (Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ]))

let private firingTimes (result: RunResult) (layer: int) =
    result.Spikes.[layer] |> Array.mapi (fun t row -> row |> Array.indexed |> Array.filter snd |> Array.map (fun (i, _) -> t, i)) |> Array.concat

type private Scaled = { Weights: int[]; Bias: int[]; Vth: int; Scale: int; Spikes: bool[][] }

let private scaledCases =
    gen {
        let! weights = Gen.arrayOfLength 12 (Gen.choose (-40, 40))
        let! bias = Gen.arrayOfLength 3 (Gen.choose (-8, 8))
        let! vth = Gen.choose (1, 400)
        let! scale = Gen.choose (2, 6)
        let! spikes = spikeTrains 30 4
        return { Weights = weights; Bias = bias; Vth = vth; Scale = scale; Spikes = spikes }
    } |> Arb.fromGen

let tests =
    testList "Loihi" [
        testPropertyWithConfig config "rtz is symmetric for negatives: rtz(-p) = -rtz(p), decay d (-x) = -(decay d x)" <|
            Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (-1_000_000_000, 1_000_000_000)) (Gen.choose (0, 4096)))) (fun (p, d) ->
                FixedPoint.rtz (-(int64 p) * 4096L) = -(FixedPoint.rtz (int64 p * 4096L))
                && FixedPoint.rtz (int64 -p) = -(FixedPoint.rtz (int64 p))
                && FixedPoint.decay d (int64 -p) = -(FixedPoint.decay d (int64 p)))

        // The neuron equations are linear when the current decays fully each step (du = 4095: u = a << 6) and the
        // voltage does not decay (dv = 0): v is a sum, so multiplying weights, bias and threshold by k multiplies v
        // by k and leaves every comparison v > vth << 6, hence every spike time, unchanged. (With partial decays,
        // truncation toward zero breaks exact scaling; that is a property of the hardware, not of the emulator.)
        testPropertyWithConfig config "scaling weights, bias and threshold together leaves spike times unchanged" <|
            Prop.forAll scaledCases (fun c ->
                let net (k: int) =
                    { Layers =
                        [| input 4
                           dense "out" 4 (c.Weights |> Array.map ((*) k)) { Du = 4095; Dv = 0; Vth = c.Vth * k; BiasExp = 0; BiasMant = c.Bias |> Array.map ((*) k) } |] }
                let run k = Emulator.run (net k) (InputSpikes c.Spikes) { RunOptions.For 30 with ResetInterval = Some 10 }
                firingTimes (run 1) 1 = firingTimes (run c.Scale) 1)

        testPropertyWithConfig config "u and v never leave 24 bits, whatever the weights, biases and decays" <|
            Prop.forAll (Arb.fromGen (gen {
                let! weights = Gen.arrayOfLength 24 (Gen.choose (-256, 255))
                let! bias = Gen.arrayOfLength 6 (Gen.choose (-4096, 4095))
                let! du = Gen.choose (-1, 4095)
                let! dv = Gen.choose (0, 4095)
                let! vth = Gen.choose (0, 131071)
                let! exp = Gen.choose (0, 7)
                let! wexp = Gen.choose (0, 7)
                let! spikes = spikeTrains 40 4
                return weights, bias, du, dv, vth, exp, wexp, spikes })) (fun (weights, bias, du, dv, vth, exp, wexp, spikes) ->
                let layer = { dense "out" 4 weights { Du = du; Dv = dv; Vth = vth; BiasExp = exp; BiasMant = bias } with WeightExp = wexp }
                let result = Emulator.run { Layers = [| input 4; layer |] } (InputSpikes spikes) { RunOptions.For 40 with RecordState = true }
                let inU x = x > -(1 <<< 23) && x <= (1 <<< 23)
                let inV x = abs x <= (1 <<< 23) - 1
                result.U.Value.[1] |> Array.forall (Array.forall inU) && result.V.Value.[1] |> Array.forall (Array.forall inV))

        // When every float value is representable (weights multiples of 2/64, bias and threshold multiples of 1/64,
        // a current that decays fully and a voltage that decays fully or not at all), the float network's sums are
        // exact dyadic numbers and the emulator's integers are those numbers x 4096: spikes must agree exactly.
        // Half the cases are recurrent (dense_rec): the layer's own spikes come back one step later in both.
        testPropertyWithConfig config "a float network of representable values and its quantized emulation spike identically" <|
            Prop.forAll (Arb.fromGen (gen {
                let! halves = Gen.arrayOfLength 15 (Gen.choose (-128, 127))
                let! bias = Gen.arrayOfLength 3 (Gen.choose (-20, 20))
                let! vth = Gen.choose (1, 400)
                let! voltageDecay = Gen.elements [ 0.0; 1.0 ]
                let! spikes = spikeTrains 30 5
                let! recurrentHalves = Gen.arrayOfLength 9 (Gen.choose (-128, 127))
                let! recurrent = Gen.elements [ false; true ]
                let recurrent = if recurrent then Some (recurrentHalves |> Array.map (fun k -> float (2 * k) / 64.0)) else None
                return halves, bias, vth, voltageDecay, spikes, recurrent })) (fun (halves, bias, vth, voltageDecay, spikes, recurrent) ->
                let floatNet : FloatNetwork =
                    { Layers =
                        [| { Name = "in"; Shape = [| 5 |]; Incoming = None; CurrentDecay = 1.0; VoltageDecay = 1.0; Threshold = 0.0; Bias = Array.zeroCreate 5; Recurrent = None }
                           { Name = "out"; Shape = [| 3 |]; Incoming = Some (FloatDense (5, halves |> Array.map (fun k -> float (2 * k) / 64.0)))
                             CurrentDecay = 1.0; VoltageDecay = voltageDecay; Threshold = float vth / 64.0; Bias = bias |> Array.map (fun b -> float b / 64.0); Recurrent = recurrent } |] }
                let q = NetworkQuantizer.quantize (Some [| 1.0; 1.0 |]) floatNet
                q.Clips.IsEmpty
                && FloatNetwork.simulate floatNet spikes 30 None = (Emulator.run q.Network (InputSpikes spikes) (RunOptions.For 30)).Spikes)

        testPropertyWithConfig config "every layer adds exactly one step of latency" <|
            Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (1, 6)) (Gen.choose (0, 8)))) (fun (depth, start) ->
                // Each neuron relays: one input spike (weight 254, a = 254 << 6) exceeds vth << 6 = 64 at once.
                let relay : LayerNeurons = { Du = 4095; Dv = 4095; Vth = 1; BiasExp = 0; BiasMant = [| 0 |] }
                let layers = Array.append [| input 1 |] (Array.init depth (fun l -> dense (string (l + 1)) 1 [| 254 |] relay))
                let steps = start + depth + 3
                let drive = Array.init steps (fun t -> [| t = start |])
                let result = Emulator.run { Layers = layers } (InputSpikes drive) (RunOptions.For steps)
                [ for l in 0 .. depth -> firingTimes result l |> Array.map fst ] = [ for l in 0 .. depth -> [| start + l |] ])
    ]
