/// Lava's own test vectors for the bit-accurate CUBA-LIF model (docs/loihi.md §1).
module Snn.Tests.LoihiTests

open Expecto
open Snn.Loihi

let private single (p: CubaLifParameters) (inputs: int16 list) =
    let states, spikes = CubaLif.run p 1 [| for a in inputs -> [| a |] |]
    states |> Array.map (fun s -> int s.U.[0], int s.V.[0]), spikes |> Array.map (fun z -> z.[0])

let tests =
    testList "Loihi CUBA-LIF (bit-accurate)" [
        test "du = 2047 halves the current each step" {
            let p = { CubaLifParameters.Default with Du = 2047; Dv = 0; Vth = 256 }
            let trace, _ = single p (128s :: List.replicate 7 0s)
            Expect.equal (trace |> Array.map fst) [| 8192; 4096; 2048; 1024; 512; 256; 128; 64 |] "u"
        }
        test "dv = 2048 shows the hidden +1 on the current decay" {
            let p = { CubaLifParameters.Default with Du = 0; Dv = 2048; Vth = 100000 }
            let trace, _ = single p (128s :: List.replicate 7 0s)
            Expect.equal (trace |> Array.map snd) [| 8192; 12286; 14331; 15351; 15859; 16111; 16235; 16295 |] "v"
        }
        test "bias integrates and spikes strictly above vth << 6" {
            let p = { CubaLifParameters.Default with BiasMant = 2; BiasExp = 6; Vth = 8 }
            let trace, spikes = single p (List.replicate 10 0s)
            Expect.equal (trace |> Array.map snd |> Array.take 4) [| 128; 256; 384; 512 |] "v"
            Expect.equal [ for t in 0 .. 9 do if spikes.[t] then yield t + 1 ] [ 5; 10 ] "spikes at t = 5 and 10"
        }
        test "the largest bias" {
            let p = { CubaLifParameters.Default with BiasMant = 4095; BiasExp = 5; Vth = 131071 }
            let trace, _ = single p [ 0s ]
            Expect.equal (snd trace.[0]) 131040 "4095 << 5"
        }
        test "threshold comparison is strict" {
            let p = { CubaLifParameters.Default with Du = 4095; Dv = 4095; Vth = 100 }
            let trace, spikes = single p [ 100s ]
            Expect.equal (snd trace.[0], spikes.[0]) (6400, false) "w = 100: v = 6400, no spike"
            let _, spikes = single p [ 101s ]
            Expect.isTrue spikes.[0] "w = 101: v = 6464 spikes"
        }
        test "24-bit wrap and saturation" {
            Expect.equal (FixedPoint.wrap24 (1L <<< 23)) (1L <<< 23) "+2^23 survives"
            Expect.equal (FixedPoint.wrap24 ((1L <<< 23) + 1L)) (-(1L <<< 23) + 1L) "above 2^23 wraps"
            Expect.equal (FixedPoint.wrap24 (-(1L <<< 23))) (1L <<< 23) "-2^23 becomes +2^23"
            Expect.equal (FixedPoint.saturate24 (1L <<< 30)) ((1L <<< 23) - 1L) "saturates high"
            Expect.equal (FixedPoint.rtz -5000L) -1L "truncation toward zero for negatives"
        }
        test "out-of-range fields are named" {
            let e = Expect.throwsC (fun () -> CubaLif.validate { CubaLifParameters.Default with Du = 4096 } |> ignore) id
            Expect.stringContains e.Message "Du" "names Du"
        }
        test "quantization follows lava-dl's mapping and reports every clipped value" {
            let w, clips = Quantization.weights "weight" 1.0 [| 0.5; -0.51; 10.0; -10.0; 1.0 / 64.0 |]
            Expect.equal w [| 32; -32; 254; -256; 0 |] "even mantissas w·64 (1/64 rounds half to even: 0)"
            Expect.equal (clips |> List.map (fun c -> c.Key)) [ "weight[2]"; "weight[3]" ] "clipped entries"
            Expect.equal (Quantization.decay "iDecay" 0.25) (1024, []) "round(4096·decay)"
            Expect.equal (fst (Quantization.decay "vDecay" 1.5)) 4096 "clamped"
            Expect.equal (Quantization.threshold "vThMant" 2.0 1.3) (166, []) "floor(scale·threshold·64)"
        }
        test "values that passed through float32 arithmetic are not floored or rounded one step too low" {
            // float32 arithmetic leaves a value one float32 ulp below the intended one (634.99996 for 635).
            let viaFloat32 (x: float) = float (System.MathF.BitDecrement (float32 x))
            let threshold = viaFloat32 (635.0 / 64.0)
            Expect.isTrue (threshold * 64.0 <> 635.0) $"the float32 detour really moves the value ({threshold * 64.0:R})"
            Expect.equal (fst (Quantization.threshold "vThMant" 1.0 threshold)) 635 "floor after snapping to 635"
            Expect.equal (fst (Quantization.threshold "vThMant" 1.0 (634.6 / 64.0))) 634 "a real fraction is still floored"
            // 1.5 weight steps (of 2 mantissa units) one ulp low: half to even gives 2 steps, mantissa 4.
            let w = viaFloat32 (3.0 / 64.0)
            Expect.equal (fst (Quantization.weights "weight" 1.0 [| w |])) [| 4 |] "half to even from 1.5 steps"
            Expect.equal (fst (Quantization.decay "iDecay" (viaFloat32 (1025.0 / 4096.0)))) 1025 "decay mantissa"
        }
        test "threshold modulation: one network, different per-layer thresholds, same weights" {
            let layer name inputs weights vth : Layer =
                { Name = name; Shape = [| 2 |]; Neurons = { Du = 4095; Dv = 0; Vth = vth; BiasExp = 0; BiasMant = [| 0; 0 |] }
                  Incoming = Some (Dense (inputs, weights)); WeightExp = 0; Delays = None; Recurrent = None }
            let net =
                { Layers = [| { layer "in" 1 [||] 0 with Incoming = None }; layer "h" 2 [| 100; 0; 0; 50 |] 60 |] }
            let drive = InputSpikes (Array.init 12 (fun _ -> [| true; true |]))
            let count (r: RunResult) = r.Spikes.[1] |> Array.map (Array.sumBy (fun s -> if s then 1 else 0)) |> Array.sum
            let base' = Emulator.run net drive (RunOptions.For 12)
            let same = Emulator.run net drive { RunOptions.For 12 with Thresholds = Some [| 0; 60 |] }
            let higher = Emulator.run net drive { RunOptions.For 12 with Thresholds = Some [| 0; 200 |] }
            Expect.equal (count same) (count base') "the network's own thresholds"
            Expect.isLessThan (count higher) (count base') "a higher threshold spikes less"
            Expect.equal net.Layers.[1].Incoming (Some (Dense (2, [| 100; 0; 0; 50 |]))) "weights untouched"
        }
    ]
