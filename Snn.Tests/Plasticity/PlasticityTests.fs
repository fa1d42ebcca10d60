/// STDP and R-STDP against hand-computed updates, and small learning runs that fail when the rules are wrong.
module Snn.Tests.PlasticityTests

open System
open System.IO
open Expecto
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Tensors
open Snn.Tests.Assertions

/// One-spike trains [T; 1; 1] with a spike at `step` (none when step < 0).
let private train (steps: int) (step: int) =
    shaped32 [| int64 steps; 1L; 1L |] (Array.init steps (fun t -> if t = step then 1.0f else 0.0f))

/// Pair STDP of one synapse (dense 1×1 weight) for a pre spike at `tPre` and a post spike at `tPost`.
let private pairUpdate (p: Plasticity.StdpParameters) (w: float32) (tPre: int) (tPost: int) =
    let weight = shaped32 [| 1L; 1L |] [| w |]
    let _, dw = Plasticity.stdp p Plasticity.Dense weight (Plasticity.zeroTraces [| 1L; 1L |] [| 1L; 1L |]) (train 10 tPre) (train 10 tPost)
    (values dw).[0]

/// A tiny two-layer network for the synthetic set: 16×16 events, 8 then 16 features, 5 decision neurons per class.
let private tinyNetwork () =
    let m = StdpNetworkSettings.Mozafari2018 2 16 16 10
    { m with
        Layers =
            [| { m.Layers.[0] with Features = 8; Threshold = 8.0; PoolPadding = 0; InhibitionRadius = 2 }
               { m.Layers.[1] with Features = 16; Threshold = 5.0; PoolKernel = 2; PoolStride = 2 } |]
        Decision = { m.Decision with FeaturesPerClass = 5; Threshold = 6.0 } }

let tests =
    testList "Plasticity" [
        test "pair STDP: pre before post potentiates, post before pre depresses, by the exact exponential" {
            let p = { Plasticity.StdpParameters.Default with TauPre = 20.0; TauPost = 10.0; Dt = 0.5; APlus = 0.01; AMinus = 0.012 }
            // Δt = 3 steps of 0.5 ms = 1.5 ms.
            allClose 1e-7 [| 0.01 * exp (-1.5 / 20.0) |] [| pairUpdate p 0.5f 2 5 |] "LTP A+ e^{-Δt/τ+}"
            allClose 1e-7 [| -0.012 * exp (-1.5 / 10.0) |] [| pairUpdate p 0.5f 5 2 |] "LTD -A- e^{-Δt/τ-}"
            allClose 1e-7 [| 0.01 - 0.012 |] [| pairUpdate p 0.5f 4 4 |] "same step: both terms"
            allClose 0.0 [| 0.0 |] [| pairUpdate p 0.5f 4 -1 |] "no post spike, no update"
            let m = { p with Dependence = Plasticity.Multiplicative; WeightMin = 0.0; WeightMax = 1.0 }
            allClose 1e-7 [| 0.01 * (1.0 - 0.2) * exp (-1.5 / 20.0) |] [| pairUpdate m 0.2f 2 5 |] "soft bound: A+ (Wmax - w)"
            allClose 1e-7 [| -0.012 * 0.2 * exp (-1.5 / 10.0) |] [| pairUpdate m 0.2f 5 2 |] "soft bound: A- (w - Wmin)"
        }
        test "traces decay as exp(-dt/tau) per step and add up spikes" {
            let decay = Plasticity.decayFactor 0.25 8.0
            let mutable x = torch.zeros (1L)
            let observed = [| for t in 0 .. 11 do
                                x <- Plasticity.traceStep decay x (torch.tensor [| (if t = 0 || t = 6 then 1.0f else 0.0f) |])
                                yield (values x).[0] |]
            let expected = Array.init 12 (fun t -> exp (-0.25 * float t / 8.0) + (if t >= 6 then exp (-0.25 * float (t - 6) / 8.0) else 0.0))
            allClose 1e-6 expected observed "x_t"
        }
        test "conv2d pair STDP with a kernel as large as the input equals dense STDP on the flattened input" {
            use _ = torch.NewDisposeScope ()
            use gen = new torch.Generator (3UL)
            let bernoulli (shape: int64[]) = torch.rand(shape, generator = gen).lt((0.3).ToScalar ()).``to``(torch.float32)
            let pre = bernoulli [| 12L; 2L; 3L; 4L; 4L |]
            let post = bernoulli [| 12L; 2L; 5L; 1L; 1L |]
            let w = torch.rand ([| 5L; 3L; 4L; 4L |], generator = gen)
            let p = { Plasticity.StdpParameters.Default with Dependence = Plasticity.Multiplicative; TauPost = 7.0 }
            let _, convDw = Plasticity.stdp p (Plasticity.Conv2d (1, 0)) w (Plasticity.zeroTraces [| 2L; 3L; 4L; 4L |] [| 2L; 5L; 1L; 1L |]) pre post
            let _, denseDw =
                Plasticity.stdp p Plasticity.Dense (w.reshape (5L, 48L)) (Plasticity.zeroTraces [| 2L; 48L |] [| 2L; 5L |])
                    (pre.reshape (12L, 2L, 48L)) (post.reshape (12L, 2L, 5L))
            allClose 1e-5 (values denseDw) (values (convDw.reshape (5L, 48L))) "same update"
            Expect.isGreaterThan (values (convDw.abs().sum ())).[0] 0.0 "not trivially zero"
        }
        test "first-spike STDP: a+ W(1-W) for pre at or before post, -a- W(1-W) otherwise" {
            // One input channel 1×3, kernel 1×3, one feature; pre times 0, 2, never(5); post at 2.
            let w = shaped32 [| 1L; 1L; 1L; 3L |] [| 0.8f; 0.5f; 0.3f |]
            let pre = shaped32 [| 1L; 1L; 1L; 3L |] [| 0.0f; 2.0f; 5.0f |]
            let post = shaped32 [| 1L; 1L; 1L; 1L |] [| 2.0f |]
            let winner = [| ({ Sample = 0; Feature = 0; Row = 0; Column = 0 }: Plasticity.Winner) |]
            let p = Plasticity.FirstSpikeStdpParameters.Default
            let dw = Plasticity.firstSpikeStdp p 1 0 w pre post winner
            allClose 1e-7 [| 0.004 * 0.8 * 0.2; 0.004 * 0.5 * 0.5; -0.003 * 0.3 * 0.7 |] (values dw) "ΔW"
            let clamped = Plasticity.applyFirstSpike p (shaped32 [| 1L |] [| 0.99f |]) (shaped32 [| 1L |] [| 0.5f |])
            allClose 0.0 [| 1.0 |] (values clamped) "clamped to W_max"
            Expect.throwsT<ArgumentException> (fun () -> Plasticity.validateFirstSpike { p with Depression = -1.0 }) "negative rate"
        }
        test "R-STDP: reward +1 equals STDP, -1 equals anti-STDP, 0 changes nothing" {
            use _ = torch.NewDisposeScope ()
            use gen = new torch.Generator (11UL)
            let w = torch.rand ([| 4L; 2L; 3L; 3L |], generator = gen)
            let pre = (torch.rand ([| 3L; 2L; 6L; 6L |], generator = gen) * 8.0).floor ()
            let post = (torch.rand ([| 3L; 4L; 6L; 6L |], generator = gen) * 7.0).floor ()
            let winners = Plasticity.kWinners 2 1 7 post (torch.rand ([| 3L; 4L; 6L; 6L |], generator = gen))
            let rates = { Plasticity.FirstSpikeStdpParameters.Default with Potentiation = 0.02; Depression = 0.01 }
            let r = { Plasticity.RStdpParameters.Default with Reward = rates; Punishment = rates }
            let stdp = Plasticity.firstSpikeStdp rates 1 1 w pre post winners
            let anti = Plasticity.antiFirstSpikeStdp rates 1 1 w pre post winners
            allClose 1e-7 (values stdp) (values (Plasticity.rewardModulatedFirstSpike r 1 1 w pre post winners [| 1.0; 1.0; 1.0 |])) "reward"
            allClose 1e-7 (values anti) (values (Plasticity.rewardModulatedFirstSpike r 1 1 w pre post winners [| -1.0; -1.0; -1.0 |])) "punishment"
            allClose 1e-7 (values (-stdp)) (values anti) "anti-STDP mirrors STDP for equal rates"
            allClose 0.0 (Array.zeroCreate 72) (values (Plasticity.rewardModulatedFirstSpike r 1 1 w pre post winners [| 0.0; 0.0; 0.0 |])) "no reward"
            Expect.isGreaterThan (values (stdp.abs().sum ())).[0] 0.0 "winners learn"
        }
        test "MSTDP is the reward times the pair term; MSTDPET's eligibility decays as exp(-dt/tau_z)" {
            let p = { Plasticity.RewardModulatedParameters.Default with LearningRate = 0.5; TauEligibility = 4.0 }
            let p = { p with Stdp = { p.Stdp with Dt = 2.0; APlus = 0.1 } }
            let w = shaped32 [| 1L; 1L |] [| 0.5f |]
            let zero = Plasticity.zeroTraces [| 1L; 1L |] [| 1L; 1L |]
            let one, none = shaped32 [| 1L; 1L |] [| 1.0f |], shaped32 [| 1L; 1L |] [| 0.0f |]
            // A pre spike, then a post spike one step later (Δt = 2 ms): ξ = A+ e^{-2/20}.
            let traces, _ = Plasticity.stdpStep p.Stdp Plasticity.Dense w zero one none
            let _, xi = Plasticity.stdpStep p.Stdp Plasticity.Dense w traces none one
            let _, m = Plasticity.mstdpStep p Plasticity.Dense w traces none one (torch.tensor [| -2.0f |])
            allClose 1e-7 [| -2.0 * 0.5 * (values xi).[0] |] (values m) "MSTDP = γ r ξ"
            let state0 = Plasticity.zeroEligibility [| 1L; 1L |] [| 1L; 1L |] [| 1L; 1L |]
            let noReward = torch.zeros (1L)
            let s1, _ = Plasticity.mstdpetStep p Plasticity.Dense w state0 one none noReward
            let s2, dw2 = Plasticity.mstdpetStep p Plasticity.Dense w s1 none one noReward
            let z0 = (values xi).[0] / 4.0
            allClose 1e-7 [| z0 |] (values s2.Eligibility) "z jumps by ξ/τ_z"
            allClose 0.0 [| 0.0 |] (values dw2) "no reward, no change"
            let mutable s = s2
            for k in 1 .. 3 do
                let next, dw = Plasticity.mstdpetStep p Plasticity.Dense w s none none (torch.tensor [| 1.0f |])
                let z = z0 * exp (-2.0 * float k / 4.0)
                allClose 1e-7 [| z |] (values next.Eligibility) $"z after {k} silent steps"
                allClose 1e-7 [| 0.5 * 2.0 * z |] (values dw) "Δw = γ dt r z"
                s <- next
        }
        test "k-WTA: earliest first, ties by score, one winner per feature, inhibition radius" {
            // 3 features on a 1×6 map; T = 9 means never.
            let times =
                shaped32 [| 1L; 3L; 1L; 6L |]
                    [| 9.0f; 1.0f; 9.0f; 9.0f; 9.0f; 2.0f     // feature 0: fires at column 1 (t 1) and column 5 (t 2)
                       9.0f; 1.0f; 9.0f; 9.0f; 3.0f; 9.0f     // feature 1: column 1 at t 1 (same time, smaller score), column 4 at t 3
                       9.0f; 9.0f; 9.0f; 9.0f; 9.0f; 9.0f |]  // feature 2: silent
            let scores =
                shaped32 [| 1L; 3L; 1L; 6L |]
                    [| 0.0f; 5.0f; 0.0f; 0.0f; 0.0f; 4.0f
                       0.0f; 3.0f; 0.0f; 0.0f; 9.0f; 0.0f
                       0.0f; 0.0f; 0.0f; 0.0f; 0.0f; 0.0f |]
            let pick k r = Plasticity.kWinners k r 9 times scores |> Array.map (fun w -> w.Feature, w.Column)
            Expect.equal (pick 3 0) [| 0, 1; 1, 1 |] "feature 0 wins the tie at column 1; radius 0 inhibits no position, so feature 1 wins there too"
            Expect.equal (pick 3 1) [| 0, 1; 1, 4 |] "radius 1 blocks column 1 for feature 1, which then wins at column 4"
            Expect.equal (pick 3 3) [| 0, 1 |] "radius 3 around column 1 blocks column 4"
            Expect.equal (pick 1 0) [| 0, 1 |] "k = 1"
            let mask = Plasticity.pointwiseInhibition 9 times scores
            Expect.equal (values mask) [| 0.; 1.; 0.; 0.; 0.; 1.;  0.; 0.; 0.; 0.; 1.; 0.;  0.; 0.; 0.; 0.; 0.; 0. |] "point-wise winners"
        }
        test "k-WTA: exact ties of time and score go to the lowest flat index f·H·W + row·W + column" {
            // 3 features on a 2×3 map, every neuron that fires does so at t = 2 with score 1: all candidates tie.
            let fires = [| (0, 1, 2); (1, 0, 0); (1, 1, 1); (2, 0, 1); (2, 1, 0) |] // (feature, row, column)
            let h, w = 2, 3
            let timesData = Array.create (3 * h * w) 7.0f
            for f, r, c in fires do timesData.[f * h * w + r * w + c] <- 2.0f
            let times = shaped32 [| 1L; 3L; int64 h; int64 w |] timesData
            let scores = shaped32 [| 1L; 3L; int64 h; int64 w |] (timesData |> Array.map (fun t -> if t < 7.0f then 1.0f else 0.0f))
            // Expected by the rule: candidates sorted by flat index; a feature wins once; radius r blocks the
            // (2r+1)² neighbourhood of each winner for later winners (radius 0: nothing is blocked).
            let expected (k: int) (radius: int) =
                let order = fires |> Array.sortBy (fun (f, r, c) -> f * h * w + r * w + c)
                let taken = Collections.Generic.HashSet<int> ()
                let winners = Collections.Generic.List<int * int * int> ()
                for f, r, c in order do
                    let blocked = radius > 0 && winners |> Seq.exists (fun (_, r', c') -> abs (r - r') <= radius && abs (c - c') <= radius)
                    if winners.Count < k && not (taken.Contains f) && not blocked then
                        taken.Add f |> ignore
                        winners.Add ((f, r, c))
                winners.ToArray ()
            for k in 1 .. 3 do
                for radius in 0 .. 1 do
                    let actual = Plasticity.kWinners k radius 7 times scores |> Array.map (fun v -> v.Feature, v.Row, v.Column)
                    Expect.equal actual (expected k radius) $"k = {k}, radius {radius}"
            // The same maps presented in a batch give every sample the same winners (no dependence on the sort).
            let batch = Plasticity.kWinners 3 0 7 (times.repeat [| 4L; 1L; 1L; 1L |]) (scores.repeat [| 4L; 1L; 1L; 1L |])
            for sample in 0 .. 3 do
                Expect.equal (batch |> Array.filter (fun v -> v.Sample = sample) |> Array.map (fun v -> v.Feature, v.Row, v.Column)) (expected 3 0) $"sample {sample}"
        }
        test "k-WTA with radius 0 lets a second feature win at the winner's position (SpykeTorch); radius 1 does not" {
            // Features 0 and 1 both fire at (0, 0): feature 0 at t 1, feature 1 at t 2; feature 2 at (1, 1) at t 3.
            let times = shaped32 [| 1L; 3L; 2L; 2L |] [| 1.0f; 9.0f; 9.0f; 9.0f;  2.0f; 9.0f; 9.0f; 9.0f;  9.0f; 9.0f; 9.0f; 3.0f |]
            let scores = torch.ones ([| 1L; 3L; 2L; 2L |])
            let pick radius = Plasticity.kWinners 3 radius 9 times scores |> Array.map (fun v -> v.Feature, v.Row, v.Column)
            Expect.equal (pick 0) [| 0, 0, 0; 1, 0, 0; 2, 1, 1 |] "radius 0: no spatial inhibition"
            Expect.equal (pick 1) [| 0, 0, 0 |] "radius 1: the 3×3 neighbourhood of (0, 0) covers the whole 2×2 map"
        }
        test "a first-spike STDP neuron becomes selective to a pattern repeated among noise" {
            // 40 inputs, T = 15. Half of the samples contain a fixed pattern: inputs 0-9 fire at steps 0 and 1.
            // Every other input (and every input of a noise-only sample) fires with probability 0.3 at a random step.
            // A non-leaky integrate-and-fire neuron (θ = 6) learns by first-spike STDP whenever it fires.
            let rng = Random 5
            let n, steps, threshold = 40, 15, 6.0
            let patternTimes = Array.init 10 (fun i -> float32 (i / 5))
            let sample (withPattern: bool) =
                Array.init n (fun i ->
                    if withPattern && i < 10 then patternTimes.[i]
                    elif rng.NextDouble () < 0.3 then float32 (rng.Next steps)
                    else float32 steps)
            let respond (w: Tensor) (times: float32[]) =
                let pre = shaped32 [| 1L; 1L; 1L; int64 n |] times
                let cumulative = (Encoding.spikesAt steps pre).cumsum(0L).clamp_max (1.0)
                let v = (cumulative * w.reshape (1L, 1L, 1L, 1L, int64 n)).sum ([| 2L; 3L; 4L |], keepdim = true) // [T; 1; 1; 1; 1]
                let post = Plasticity.firstSpikeTimes (v.ge (threshold.ToScalar ()))
                pre, post, (values post).[0] < float steps
            let p = { Plasticity.FirstSpikeStdpParameters.Default with Potentiation = 0.05; Depression = 0.04 }
            let mutable w = torch.zeros ([| 1L; 1L; 1L; int64 n |]) + 0.5
            for k in 1 .. 300 do
                let pre, post, fired = respond w (sample (k % 2 = 0))
                if fired then
                    let winner = [| ({ Sample = 0; Feature = 0; Row = 0; Column = 0 }: Plasticity.Winner) |]
                    w <- Plasticity.applyFirstSpike p w (Plasticity.firstSpikeStdp p 1 0 w pre post winner)
            let weights = values w
            let patternMean, noiseMean = Array.average weights.[.. 9], Array.average weights.[10 ..]
            Expect.isGreaterThan patternMean 0.9 $"pattern synapses potentiated (mean {patternMean})"
            Expect.isLessThan noiseMean 0.1 $"noise synapses depressed (mean {noiseMean})"
            let rate withPattern = [| for _ in 1 .. 100 -> let _, _, fired = respond w (sample withPattern) in fired |] |> Array.filter id |> Array.length
            let hits, falseAlarms = rate true, rate false
            Expect.isGreaterThan hits 95 $"fires on the pattern ({hits}/100)"
            Expect.isLessThan falseAlarms 10 $"silent on noise alone ({falseAlarms}/100)"
        }
        test "a tiny network trains layer by layer; the R-STDP readout beats chance; the checkpoint round-trips" {
            use _ = torch.NewDisposeScope ()
            let settings = MovingPatterns.Settings.Default
            let trainSet, testSet = MovingPatterns.trainTest settings 15 0 200 100
            let data (s: MovingPatterns.FrameSet) : StdpTraining.LabelledTimes =
                { Times = StdpInput.eventTimes settings.Size s.Frames; Labels = toInt64Array s.Labels |> Array.map int }
            let trainData, testData = data trainSet, data testSet
            use net = new StdpNetwork (tinyNetwork ())
            let schedule: StdpTraining.StdpTrainingSettings =
                { Layers = Array.create 2 { StdpTraining.LayerSchedule.Default with Samples = 100; RateDoublingInterval = 20 }
                  Decision = { StdpTraining.DecisionSchedule.Default with Epochs = 5; RateScale = 50.0; RateDecay = 0.8 }
                  Seed = 0; BatchSize = 64 }
            let folder = Path.Combine (Path.GetTempPath (), $"snn-stdp-{Guid.NewGuid():N}")
            Directory.CreateDirectory folder |> ignore
            try
                let path = Path.Combine (folder, "net.bin")
                let before = values ((net.ConvWeight 0).clone ())
                let report = StdpTraining.train net schedule trainData (Some path) ignore ignore
                Expect.equal net.TrainedStages 3 "all stages trained"
                Expect.equal (report.Layers |> List.map (fun r -> r.Layer)) [ 0; 1 ] "one pass per conv layer"
                Expect.notEqual (values (net.ConvWeight 0)) before "STDP changed the first layer"
                let predictions = StdpTraining.predictDecisions net 64 (StdpTraining.decisionInputs net 64 testData)
                let accuracy = StdpTraining.accuracy predictions testData.Labels
                Expect.isGreaterThan accuracy 0.25 $"test accuracy {accuracy} well above chance (0.1)"
                Expect.equal (Directory.GetFiles folder) [| path |] "checkpoint written atomically (no temporary left)"
                use reloaded = new StdpNetwork (tinyNetwork ())
                StdpTraining.load path reloaded
                Expect.equal reloaded.TrainedStages 3 "stage count restored"
                Expect.equal (values reloaded.DecisionWeight) (values net.DecisionWeight) "weights restored"
                let resumed = StdpTraining.train reloaded schedule trainData None ignore ignore
                Expect.isEmpty resumed.Decision "a fully trained checkpoint trains nothing more"
            finally
                Directory.Delete (folder, true)
        }
        test "bad parameters are named" {
            let named (name: string) (f: unit -> unit) =
                try f (); failtest $"expected an error naming {name}"
                with :? ArgumentException as e -> Expect.stringContains e.Message name "names the parameter"
            named "TauPre" (fun () -> Plasticity.validate { Plasticity.StdpParameters.Default with TauPre = 0.0 })
            named "WeightMax" (fun () -> Plasticity.validate { Plasticity.StdpParameters.Default with WeightMax = -1.0 })
            named "TauEligibility" (fun () -> Plasticity.validateRewardModulated { Plasticity.RewardModulatedParameters.Default with TauEligibility = nan })
            named "Layers[1].Threshold" (fun () ->
                let s = tinyNetwork ()
                StdpNetworkSettings.validate { s with Layers = [| s.Layers.[0]; { s.Layers.[1] with Threshold = 0.0 } |] })
            named "rewards" (fun () ->
                let t = torch.zeros ([| 2L; 1L; 3L; 3L |])
                Plasticity.rewardModulatedFirstSpike Plasticity.RStdpParameters.Default 1 1 (torch.zeros ([| 1L; 1L; 3L; 3L |])) t t [||] [| 1.0 |] |> ignore)
        }
        test "snn stdp trains layer by layer on MovingPatterns and writes metrics.json and the checkpoint" {
            inTemporaryFolder (fun dir ->
                let code, out, err =
                    runSnn [ "stdp"; "--train-samples"; "40"; "--test-samples"; "20"; "--layer-samples"; "20"; "--decision-epochs"; "1"
                             "--features"; "4,8"; "--threads"; "1"; "--out"; dir ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.stringContains out "[stdp] layer 1 epoch 1" "the first conv layer is trained by STDP"
                Expect.stringContains out "[stdp] decision epoch 1" "the decision layer is trained by R-STDP"
                Expect.stringContains out "[stdp] test accuracy" "a test accuracy"
                Expect.isTrue (File.Exists (Path.Combine (dir, "stdp-network.bin"))) "checkpoint"
                use doc = System.Text.Json.JsonDocument.Parse (File.ReadAllText (Path.Combine (dir, "metrics.json")))
                Expect.equal (doc.RootElement.GetProperty("settings").GetProperty("features").GetString ()) "4,8" "settings recorded"
                let code, _, err = runSnn [ "stdp"; "--features"; "4"; "--out"; dir ]
                Expect.notEqual code 0 "one feature count for two layers is refused"
                Expect.stringContains err "features" "the option is named")
        }
    ]
