/// Each loss against a hand-computed value, and its gradient against central finite differences.
module Snn.Tests.LossTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Tensors
open Snn.Tests.Assertions

/// Central differences of a scalar function of a float64 tensor, element by element.
let private finiteDifferences (f: Tensor -> Tensor) (x: Tensor) : float[] =
    let h = 1e-6
    let xs = values x
    Array.init xs.Length (fun i ->
        let shifted (d: float) = shaped x.shape (xs |> Array.mapi (fun j v -> if j = i then v + d else v))
        ((f (shifted h)).ToDouble () - (f (shifted -h)).ToDouble ()) / (2.0 * h))

/// Asserts that autograd's gradient of f at x matches finite differences.
let private gradientMatches (name: string) (f: Tensor -> Tensor) (x: Tensor) =
    allClose 1e-6 (finiteDifferences f x) (values (Diff.grad f x)) $"{name}: gradient vs finite differences"

/// Values in (0.05, 0.95) standing in for surrogate spikes: every loss must be smooth in them.
let private softSpikes (seed: int) (shape: int64[]) : Tensor =
    let rng = Random seed
    let n = shape |> Array.fold (*) 1L |> int
    shaped shape (Array.init n (fun _ -> 0.05 + 0.9 * rng.NextDouble ()))

let private labels (values: int64[]) = torch.tensor values

let tests =
    testList "Loss" [
        test "cross-entropy on the mean membrane potential" {
            // v̄ = mean over t of [[1, 3]], [[3, 1]] = [2, 2]: CE = ln 2 whatever the label.
            let v = shaped [| 2L; 1L; 2L |] [| 1.; 3.; 3.; 1. |]
            allClose 1e-12 [| Math.Log 2.0 |] (values (Loss.crossEntropyOnMembrane v (labels [| 1L |]))) "CE"
            gradientMatches "membrane CE" (fun x -> Loss.crossEntropyOnMembrane x (labels [| 1L; 0L |])) (softSpikes 1 [| 3L; 2L; 3L |])
        }
        test "MSE to label-built firing rates" {
            // rates [1, 0.5], label 0, targets [0.8, 0.2]: ((0.2)² + (0.3)²)/2 = 0.065.
            let z = shaped [| 2L; 1L; 2L |] [| 1.; 0.; 1.; 1. |]
            allClose 1e-12 [| 0.065 |] (values (Loss.mseFiringRate 0.8 0.2 z (labels [| 0L |]))) "MSE"
            allClose 1e-12 [| 0.065 |] (values (Loss.mseToRates z (shaped [| 1L; 2L |] [| 0.8; 0.2 |]))) "MSE to given rates"
            gradientMatches "rate MSE" (fun x -> Loss.mseFiringRate 0.9 0.1 x (labels [| 2L; 0L |])) (softSpikes 2 [| 4L; 2L; 3L |])
        }
        test "lava-dl SpikeRate: summed squared error of the rates to true and false rates" {
            // T = 2, B = 2, C = 3. Sample 0 (label 2): rates [1, 0.5, 0]; sample 1 (label 0): rates [0.5, 0, 1].
            let z = shaped [| 2L; 2L; 3L |] [| 1.; 1.; 0.;  1.; 0.; 1.;   1.; 0.; 0.;  0.; 0.; 1. |]
            let rates = [| [| 1.0; 0.5; 0.0 |]; [| 0.5; 0.0; 1.0 |] |]
            let targets = [| [| 0.03; 0.03; 0.2 |]; [| 0.2; 0.03; 0.03 |] |]
            let expected = Array.map2 (Array.map2 (fun r t -> (r - t) * (r - t))) rates targets |> Array.sumBy Array.sum
            allClose 1e-12 [| expected |] (values (Loss.spikeRate 0.2 0.03 z (labels [| 2L; 0L |]))) "sum over samples and outputs"
            gradientMatches "SpikeRate" (fun x -> Loss.spikeRate 0.2 0.03 x (labels [| 2L; 0L |])) (softSpikes 3 [| 4L; 2L; 3L |])
            Expect.throwsT<ArgumentException> (fun () -> Loss.spikeRate 1.2 0.03 z (labels [| 2L; 0L |]) |> ignore) "true rate above 1"
        }
        test "first-spike times, loss and time regulariser" {
            // Neuron 0 first fires at t = 1, neuron 1 at t = 0 (and 2), neuron 2 never (T = 3).
            let z = shaped [| 3L; 1L; 3L |] [| 0.; 1.; 0.;  1.; 0.; 0.;  0.; 1.; 0. |]
            allClose 0.0 [| 1.; 0.; 3. |] (values (Loss.firstSpikeTimes z)) "t̂"
            let expected = -Math.Log (Math.Exp -1.0 / (Math.Exp -1.0 + 1.0 + Math.Exp -3.0))
            allClose 1e-12 [| expected |] (values (Loss.firstSpikeLoss 1.0 z (labels [| 0L |]))) "first-spike CE (τ = 1)"
            let expectedHalf = -Math.Log (Math.Exp -2.0 / (Math.Exp -2.0 + 1.0 + Math.Exp -6.0))
            allClose 1e-12 [| expectedHalf |] (values (Loss.firstSpikeLoss 0.5 z (labels [| 0L |]))) "first-spike CE (τ = 0.5)"
            allClose 1e-12 [| 1.0 / 3.0 |] (values (Loss.firstSpikeTimeRegulariser z (labels [| 0L |]))) "regulariser"
            gradientMatches "first-spike CE" (fun x -> Loss.firstSpikeLoss 2.0 x (labels [| 1L; 2L |])) (softSpikes 3 [| 4L; 2L; 3L |])
            gradientMatches "time regulariser" (fun x -> Loss.firstSpikeTimeRegulariser x (labels [| 1L; 2L |])) (softSpikes 4 [| 4L; 2L; 3L |])
        }
        test "first-spike times of silent neurons: T (default) or T + rank of the peak potential (seed 003's rule)" {
            // T = 4, one sample, 4 neurons: neuron 0 first fires at t = 1; neurons 1-3 stay silent.
            let steps = 4
            let z = shaped [| 4L; 1L; 4L |] [| 0.; 0.; 0.; 0.;  1.; 0.; 0.; 0.;  0.; 0.; 0.; 0.;  1.; 0.; 0.; 0. |]
            // Peak potentials over time: neuron 0: 2.0, 1: 0.5, 2: 0.9, 3: 0.1 (neuron 2's peak comes late).
            let v = shaped [| 4L; 1L; 4L |] [| 0.5; 0.2; 0.1; 0.1;  2.0; 0.5; 0.3; 0.0;  0.4; 0.1; 0.6; 0.05;  1.2; 0.3; 0.9; 0.1 |]
            // The rule from the definition: rank r (0-based) of each neuron's peak among all four, largest first.
            let peaks = [| 2.0; 0.5; 0.9; 0.1 |]
            let rank i = peaks |> Array.filter (fun p -> p > peaks.[i]) |> Array.length
            let firstFire = [| Some 1; None; None; None |]
            let timed (silent: int -> float) = Array.init 4 (fun i -> match firstFire.[i] with Some t -> float t | None -> silent i)
            let atEnd = timed (fun _ -> float steps)
            let ranked = timed (fun i -> float (steps + rank i))
            allClose 0.0 atEnd (values (Loss.firstSpikeTimes z)) "default: T"
            allClose 0.0 ranked (values (Loss.firstSpikeTimesWith (Loss.RankByPeakPotential v) z)) "T + rank"
            Expect.equal ranked [| 1.; 6.; 5.; 7. |] "the case: neuron 2 outranks neuron 1"
            let ce (times: float[]) (label: int) (tau: float) =
                let logits = times |> Array.map (fun t -> -t / tau)
                -(logits.[label] - log (logits |> Array.sumBy exp))
            for label in 0 .. 3 do
                allClose 1e-12 [| ce atEnd label 2.0 |] (values (Loss.firstSpikeLoss 2.0 z (labels [| int64 label |]))) $"default loss, label {label}"
                allClose 1e-12 [| ce ranked label 2.0 |] (values (Loss.firstSpikeLossWith (Loss.RankByPeakPotential v) 2.0 z (labels [| int64 label |]))) $"ranked loss, label {label}"
            // Decoding: with no spike at all, the ranked rule picks the neuron with the highest peak; the default class 0.
            let quiet = torch.zeros ([| 4L; 1L; 4L |], dtype = torch.float64)
            Expect.equal (toInt64Array (Metrics.firstSpikePredictionsWith (Loss.RankByPeakPotential v) quiet)) [| 0L |] "neuron 0 has the highest peak"
            let v' = v.flip ([| 2L |]) // peaks reversed: neuron 3 now has the highest
            Expect.equal (toInt64Array (Metrics.firstSpikePredictionsWith (Loss.RankByPeakPotential v') quiet)) [| 3L |] "ranked decoding follows the peak"
            Expect.equal (toInt64Array (Metrics.firstSpikePredictions quiet)) [| 0L |] "default: all tie at T, lowest index"
            // The gradient still flows through the spikes under the ranked rule.
            gradientMatches "ranked first-spike CE" (fun x -> Loss.firstSpikeLossWith (Loss.RankByPeakPotential v) 2.0 x (labels [| 2L |])) (softSpikes 5 [| 4L; 1L; 4L |])
            let e = Expect.throwsC (fun () -> Loss.firstSpikeTimesWith (Loss.RankByPeakPotential (v.narrow (0L, 0L, 2L))) z |> ignore) id
            Expect.equal (e :?> ArgumentException).ParamName "potentials" "a potential of another shape is refused by name"
        }
        test "SLAYER spike-count loss" {
            // counts [1, 2, 0], label 0, targets [3, 0.5, 0.5]: errors [-2, 1.5, -0.5], (4 + 2.25 + 0.25)/2 = 3.25.
            let z = shaped [| 2L; 1L; 3L |] [| 1.; 1.; 0.;  0.; 1.; 0. |]
            allClose 1e-12 [| 3.25 |] (values (Loss.slayerSpikeCount 3.0 0.5 z (labels [| 0L |]))) "SLAYER"
            gradientMatches "SLAYER" (fun x -> Loss.slayerSpikeCount 4.0 1.0 x (labels [| 0L; 2L |])) (softSpikes 5 [| 5L; 2L; 3L |])
        }
        test "TET loss" {
            // O_0 = [0, 0], O_1 = [ln 3, 0], label 0: CE = (ln 2 + ln 4/3)/2; MSE to φ = 0: (ln 3)²/4.
            let o = shaped [| 2L; 1L; 2L |] [| 0.; 0.; Math.Log 3.0; 0. |]
            let ce = (Math.Log 2.0 + Math.Log (4.0 / 3.0)) / 2.0
            let mse = Math.Log 3.0 ** 2.0 / 4.0
            allClose 1e-12 [| 0.5 * ce + 0.5 * mse |] (values (Loss.tet 0.5 0.0 o (labels [| 0L |]))) "TET, λ = 0.5"
            allClose 1e-12 [| ce |] (values (Loss.tet 0.0 0.0 o (labels [| 0L |]))) "TET, λ = 0"
            gradientMatches "TET" (fun x -> Loss.tet 0.3 1.0 x (labels [| 1L; 0L |])) (softSpikes 6 [| 3L; 2L; 2L |])
        }
        test "firing-rate regularisers" {
            // rates [0, 0.5, 1] within [0.2, 0.6]: (0.2² + 0 + 0.4²)/3.
            let z = shaped [| 2L; 1L; 3L |] [| 0.; 1.; 1.;  0.; 0.; 1. |]
            allClose 1e-12 [| (0.04 + 0.16) / 3.0 |] (values (Loss.firingRateBounds 0.2 0.6 z)) "bounds"
            allClose 1e-12 [| 0.5 |] (values (Loss.spikeActivity z)) "activity"
            gradientMatches "rate bounds" (Loss.firingRateBounds 0.3 0.5) (softSpikes 7 [| 4L; 2L; 3L |])
        }
        test "combinators: auxiliary (eq. 3.3), multi-task (eq. 4.1), weighted sum, scale" {
            let s (v: float) = torch.tensor v
            allClose 1e-12 [| 1.7 |] (values (Loss.auxiliary 0.4 [| 0.5; 0.25 |] (s 2.0) [| s 1.0; s 3.0 |])) "0.6·2 + 0.4·(0.5 + 0.75)"
            allClose 1e-12 [| 2.6 |] (values (Loss.multiTask 0.3 (s 2.0) (s 4.0))) "0.7·2 + 0.3·4"
            allClose 1e-12 [| 7.0 |] (values (Loss.weightedSum [| 2.0; 1.0 |] [| s 2.0; s 3.0 |])) "2·2 + 3"
            allClose 1e-12 [| -1.5 |] (values (Loss.scale -0.5 (s 3.0))) "scale"
        }
        test "bad input raises ArgumentException naming the parameter" {
            let z = torch.zeros ([| 3L; 2L; 4L |])
            let named (name: string) (f: unit -> obj) =
                let e = Expect.throwsC (f >> ignore) id
                match e with
                | :? ArgumentException as a -> Expect.equal a.ParamName name $"names {name}"
                | other -> failtestf "expected ArgumentException, got %O" other
            named "labels" (fun () -> box (Loss.firstSpikeLoss 1.0 z (labels [| 0L; 4L |])))
            named "labels" (fun () -> box (Loss.crossEntropyOnCounts z (labels [| 0L; -1L |])))
            named "spikes" (fun () -> box (Loss.slayerSpikeCount 1.0 0.0 (torch.zeros ([| 2L; 3L |])) (labels [| 0L |])))
            named "tau" (fun () -> box (Loss.firstSpikeLoss 0.0 z (labels [| 0L; 1L |])))
            named "alpha" (fun () -> box (Loss.auxiliary 1.5 [||] (torch.tensor 1.0) [||]))
            named "gammas" (fun () -> box (Loss.auxiliary 0.5 [| 1.0 |] (torch.tensor 1.0) [||]))
            named "targetRates" (fun () -> box (Loss.mseToRates z (torch.zeros ([| 2L; 3L |]))))
        }
    ]
