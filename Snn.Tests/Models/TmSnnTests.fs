/// The threshold-modulated multi-task SNN (thesis ch. 4): task label maps, the three-block module, eq. 4.1, the
/// Loihi mapping of the label path, `snn tmsnn` and the quick `tmsnn` experiment suite.
module Snn.Tests.TmSnnTests

open System
open System.IO
open System.Text.Json
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Loihi
open Snn.Tensors
open Snn.Tests.Assertions

let private tiny (modulation: TaskModulation) (taskHidden: int) : TmSnnConfig =
    { TmSnnConfig.Thesis 6 MultiTask.digitTasks.[0..1] with
        FeatureSizes = [| 8; 8 |]; LabelHidden = 5; TaskHidden = taskHidden; Modulation = modulation
        Thresholds = [| 1.25; 5.0 |]; Currents = [| 0.0; 2.0 |] }

/// Binary input spikes [T; B; F] with about `density` of them set, seeded.
let private spikes (seed: int) (t: int64) (b: int64) (f: int64) (density: float) =
    use g = new torch.Generator(uint64 seed)
    (torch.rand ([| t; b; f |], generator = g)).lt(torch.tensor density).``to`` torch.float32

let private snapshot (model: TmSnn) = model.parameters () |> Seq.map (fun p -> toFloat64Array p) |> Array.ofSeq

let tests =
    testList "TmSnn" [
        test "digit tasks map digits to the digit, odd/even, greater than 5 and mod 3" {
            let t = MultiTask.digitTasks
            Expect.equal (t |> Array.map (fun x -> x.LabelCount)) [| 10; 2; 2; 3 |] "label counts"
            Expect.equal t.[1].ClassToLabel [| 0; 1; 0; 1; 0; 1; 0; 1; 0; 1 |] "odd/even"
            Expect.equal t.[2].ClassToLabel [| 0; 0; 0; 0; 0; 0; 1; 1; 1; 1 |] "greater than 5"
            Expect.equal t.[3].ClassToLabel [| 0; 1; 2; 0; 1; 2; 0; 1; 2; 0 |] "mod 3"
            for set in [ MultiTask.movingPatternTasks; MultiTask.fashionTasks ] do
                for task in set do LabelMap.validate 10 task |> ignore
            Expect.equal (MultiTask.offsets t) [| 0; 10; 12; 14 |] "offsets"
            use classes = torch.tensor [| 7L; 4L; 9L |]
            Expect.equal (toInt64Array (MultiTask.concatenatedLabels t 3 classes)) [| 15L; 15L; 14L |] "offset + (class mod 3)"
            Expect.throwsT<ArgumentException> (fun () -> LabelMap.validate 10 { t.[1] with ClassToLabel = Array.create 10 2 } |> ignore) "label outside the task"
        }
        test "the three blocks have the configured shapes; thresholds and currents are not parameters" {
            torch.manual_seed 1L |> ignore
            use model = new TmSnn(tiny ByThreshold 4)
            use x = spikes 1 5L 3L 6L 0.5
            let out = model.Run (x, 1, true)
            Expect.equal (out.Features |> Array.map (fun f -> f.shape)) [| [| 5L; 3L; 8L |]; [| 5L; 3L; 8L |] |] "feature block"
            Expect.equal out.LabelHidden.shape [| 5L; 3L; 5L |] "label hidden"
            Expect.equal out.Labels.shape [| 5L; 3L; 12L |] "concatenated labels 10 + 2"
            Expect.equal out.Tasks.Value.shape [| 5L; 3L; 2L |] "task classifier"
            // 2 feature + 2 label + 2 task Linear layers, no bias, no threshold among the parameters.
            Expect.equal (model.parameters () |> Seq.length) 6 "parameters"
            Expect.equal (MultiTask.slice model.Tasks 1 out.Labels).shape [| 5L; 3L; 2L |] "task 2's slice"
        }
        test "changing phi changes the spikes but no weight" {
            torch.manual_seed 2L |> ignore
            use model = new TmSnn(tiny ByThreshold 0)
            model.CalibrateWeights (spikes 3 10L 16L 6L 0.4, 2.5, 0.1) |> ignore
            use x = spikes 4 10L 16L 6L 0.4
            let before = snapshot model
            let low = model.Run (x, 0, false)
            let high = model.Run (x, 1, false)
            let count (t: Tensor) = t.sum().ToDouble ()
            Expect.isGreaterThan (count low.Features.[0]) (count high.Features.[0]) "phi = 1.25 fires more than phi = 5"
            Expect.isGreaterThan (count low.Features.[0]) 0.0 "the low threshold fires"
            model.Thresholds <- torch.tensor([| 1.25; 1.25 |]).``to`` torch.float32
            let same = model.Run (x, 1, false)
            Expect.equal (toFloat64Array same.Labels) (toFloat64Array low.Labels) "same threshold, same spikes"
            Expect.sequenceEqual (snapshot model) before "weights unchanged"
        }
        test "the task classifier is not modulated" {
            torch.manual_seed 3L |> ignore
            use model = new TmSnn(tiny ByThreshold 4)
            use f = spikes 5 6L 4L 8L 0.5
            let reference = toFloat64Array (model.RunTaskClassifier f)
            model.Thresholds <- torch.tensor([| 40.0; 90.0 |]).``to`` torch.float32
            Expect.equal (toFloat64Array (model.RunTaskClassifier f)) reference "thresholds do not reach the task classifier"
            use x = spikes 6 6L 4L 6L 0.5
            let out = model.Run (x, 1, true)
            Expect.equal (toFloat64Array out.Tasks.Value) (toFloat64Array (model.RunTaskClassifier out.Features.[1])) "Run feeds the task classifier the features"
            Expect.isTrue (model.ModulationOf 1).Threshold.IsSome "task 2 runs under its threshold"
        }
        test "the external-current variant modulates by current at the base threshold" {
            torch.manual_seed 4L |> ignore
            use model = new TmSnn(tiny ByCurrent 0)
            let m = model.ModulationOf 1
            Expect.isTrue m.Threshold.IsNone "no threshold under current modulation"
            Expect.floatClose Accuracy.veryHigh (m.ExternalCurrent.Value.ToDouble ()) 2.0 "I_2"
            use x = torch.zeros ([| 8L; 2L; 6L |])
            Expect.equal ((model.Run (x, 0, false)).Features.[0].sum().ToDouble ()) 0.0 "no input, no current: silent"
            Expect.isGreaterThan ((model.Run (x, 1, false)).Features.[0].sum().ToDouble ()) 0.0 "I_2 = 2 > 1.25 drives the first layer"
        }
        test "the batch loss is eq. 4.1 and its gradient reaches a trainable threshold" {
            torch.manual_seed 5L |> ignore
            use model = new TmSnn(tiny ByThreshold 4)
            use x = spikes 7 8L 5L 6L 0.5
            use classes = torch.tensor [| 3L; 8L; 1L; 0L; 5L |]
            let settings = { TmSnnTraining.Settings.Default with Gamma = 0.3 }
            let loss, _ = TmSnnTraining.batchLoss model settings x classes 1
            let out = model.Run (x, 1, true)
            let ly = Loss.mseFiringRate 0.5 0.0 out.Labels (torch.tensor [| 11L; 10L; 11L; 10L; 11L |])
            let lt = Loss.crossEntropyOnCounts out.Tasks.Value (torch.tensor [| 1L; 1L; 1L; 1L; 1L |])
            Expect.floatClose Accuracy.high (loss.ToDouble ()) (0.7 * ly.ToDouble () + 0.3 * lt.ToDouble ()) "(1 - gamma) Ly + gamma Lt"
            let phi = torch.tensor([| 1.25f; 5.0f |]).requires_grad_ true
            model.Thresholds <- phi
            let loss, _ = TmSnnTraining.batchLoss model settings x classes 1
            Diff.backward loss
            Expect.isTrue (not (isNull (box phi.grad))) "phi has a gradient"
            let g = toFloat64Array phi.grad
            Expect.equal g.[0] 0.0 "task 1's threshold is not used by a task-2 batch"
            Expect.notEqual g.[1] 0.0 "task 2's threshold gets a gradient"
        }
        test "spike gradients: dz/dv at the first step follows each SpikeGradient's formula, fused and reference" {
            // One step from rest: i = x, v = (1 - β) x in input units, z = H(v - θ), so dz/dx = (dz/dv)(1 - β).
            let neuron = { CuLifParameters.Default with TauSyn = 10.0; TauMem = 20.0; Dt = 1.0; Surrogate = ATan 2.0 }
            let oneMinusBeta = 1.0 - exp (-1.0 / 20.0)
            let atan' x = 1.0 / (1.0 + (Math.PI / 2.0 * 2.0 * x) ** 2.0)
            let cases : (SpikeGradient * (float -> float -> float)) list =
                [ UnitThreshold, (fun theta v -> atan' (v / theta - 1.0) / theta)
                  ConstantHeight (0.5, 2.0), (fun theta v -> 2.0 * exp (-abs (v - theta) / (0.5 * theta)))
                  LavaDlCuba (0.03, 3.0), (fun theta v -> 0.3 / (2.0 * 3.0 * theta) * exp (-abs (v - theta) / (3.0 * theta)))
                  FixedLaplace (3.75, 0.3), (fun theta v -> 0.3 / (2.0 * 3.75) * exp (-abs (v - theta) / 3.75)) ]
            for gradient, dzdv in cases do
                for theta in [ 1.25; 10.0 ] do
                    let vs = [| theta - 0.4 * theta; theta - 0.05 * theta; theta + 0.3 * theta |]
                    for kernel in [ Fused; Reference ] do
                        use x = (torch.tensor (vs |> Array.map (fun v -> float32 (v / oneMinusBeta)))).reshape(1L, 1L, 3L).detach().requires_grad_ true
                        let z = TmSnnCore.runCuLif kernel gradient neuron (Modulation.WithThreshold (torch.tensor (float32 theta))) x
                        Diff.backward (z.sum ())
                        let expected = vs |> Array.map (fun v -> dzdv theta v * oneMinusBeta)
                        // Relative to the largest expected value: the lava-dl heights are ~1e-4.
                        let scale = Array.max expected
                        allClose 1e-4 (expected |> Array.map (fun e -> e / scale)) (toFloat64Array x.grad |> Array.map (fun g -> g / scale)) $"{gradient} at theta {theta} ({kernel})"
            // The height at the threshold: constant for ConstantHeight, 1/θ for UnitThreshold and lava-dl's CUBA.
            Expect.floatClose Accuracy.high (snd cases.[1] 10.0 10.0) (snd cases.[1] 1.25 1.25) "ConstantHeight: same peak"
            Expect.floatClose Accuracy.high (snd cases.[2] 1.25 1.25 / snd cases.[2] 10.0 10.0) 8.0 "lava-dl CUBA: peak falls as 1/theta"
        }
        test "snn tmsnn: --spike-gradient and --label-loss values" {
            Expect.equal (Snn.Cli.TmSnnCommand.spikeGradientOf "unit") UnitThreshold "unit"
            Expect.equal (Snn.Cli.TmSnnCommand.spikeGradientOf "lava-dl:0.03,3") (LavaDlCuba (0.03, 3.0)) "lava-dl with values"
            Expect.equal (Snn.Cli.TmSnnCommand.spikeGradientOf "constant-height") (ConstantHeight (1.0, 1.0)) "defaults"
            Expect.equal (Snn.Cli.TmSnnCommand.spikeGradientOf "fixed") (FixedLaplace (3.75, 0.3)) "fixed defaults"
            let e = Expect.throwsC (fun () -> Snn.Cli.TmSnnCommand.spikeGradientOf "slayer" |> ignore) id
            Expect.stringContains e.Message "unit, constant-height, lava-dl, fixed" "lists the choices"
            Expect.throwsT<ArgumentException> (fun () -> Snn.Cli.TmSnnCommand.spikeGradientOf "lava-dl:1" |> ignore) "two numbers"
            use z = spikes 4 5L 2L 3L 0.5
            use y = torch.tensor [| 2L; 0L |]
            Expect.floatClose Accuracy.high ((Snn.Cli.TmSnnCommand.labelLossOf "spike-rate:0.3,0.1" z y).ToDouble ()) ((Loss.spikeRate 0.3 0.1 z y).ToDouble ()) "spike-rate"
            Expect.throwsT<ArgumentException> (fun () -> Snn.Cli.TmSnnCommand.labelLossOf "ce" |> ignore) "unknown loss"
            Expect.equal (Snn.Cli.TmSnnCommand.calibrationPointOf "highest") TmSnnTraining.HighestThreshold "highest"
            Expect.equal (Snn.Cli.TmSnnCommand.calibrationPointOf "geometric-mean") TmSnnTraining.GeometricMeanThreshold "geometric mean"
            Expect.throwsT<ArgumentException> (fun () -> Snn.Cli.TmSnnCommand.calibrationPointOf "lowest" |> ignore) "unknown point"
        }
        test "training history logs per task the weight-gradient norm and firing rate of every label-path layer" {
            torch.manual_seed 9L |> ignore
            use model = new TmSnn(tiny ByThreshold 0)
            use x = spikes 11 6L 4L 6L 0.5
            use classes = torch.tensor [| 3L; 8L; 1L; 0L |]
            let settings = { TmSnnTraining.Settings.Default with LabelLoss = Loss.spikeRate 0.2 0.03 }
            let loss, out = TmSnnTraining.batchLossWithOutput model settings x classes 1
            Diff.backward loss
            let byHand = model.LabelPathLinears |> Array.map (fun l -> sqrt (toFloat64Array l.weight.grad |> Array.sumBy (fun g -> g * g)))
            allClose 1e-4 byHand (TmSnnTraining.labelPathGradientNorms model) "Frobenius norms of the weight gradients"
            let rates = Array.append out.Features [| out.LabelHidden; out.Labels |] |> Array.map (fun z -> (toFloat64Array z |> Array.average))
            allClose 1e-6 rates (TmSnnTraining.labelPathFiringRates out) "spikes per neuron and step"
            let frames = (spikes 12 30L 6L 6L 0.5).permute (1L, 0L, 2L)
            let history = TmSnnTraining.fit model { TmSnnTraining.trainerDefaults with Epochs = 1; BatchSize = 2 } settings frames (torch.tensor [| 1L; 2L; 3L; 4L; 5L; 6L |]) ignore
            let r = history.Entries.[0]
            let gradientNorms, firingRates = TmSnnTraining.gradientNorms 2 r, TmSnnTraining.firingRates 2 r
            Expect.equal (gradientNorms |> Array.map Array.length) [| 4; 4 |] "two tasks, four label-path layers"
            Expect.equal (firingRates |> Array.map Array.length) [| 4; 4 |] "two tasks, four spiking layers"
            Expect.isTrue (firingRates |> Array.forall (Array.forall (fun v -> v >= 0.0 && v <= 1.0))) "rates in [0, 1]"
            Expect.isTrue (gradientNorms |> Array.exists (Array.exists (fun v -> v > 0.0))) "the drawn tasks have gradients"
            r.BatchesPerTask |> Array.iteri (fun k batches ->
                if batches = 0 then Expect.equal gradientNorms.[k] [| 0.0; 0.0; 0.0; 0.0 |] "a task never drawn has no gradient")
        }
        test "calibration at the highest threshold leaves no task's layers silent; at the geometric mean the highest task's are" {
            // Three tasks at the thesis's 1.25 / 5 / 10 on sparse binary input: calibrated at the geometric mean (3.97)
            // the φ = 10 task's deeper layers fall silent (no spike reaches its outputs, so no gradient either);
            // calibrated at φ = 10 every layer of every task fires at least at the calibration rate's order.
            let config =
                { TmSnnConfig.Thesis 64 MultiTask.digitTasks.[0..2] with
                    FeatureSizes = [| 32; 32 |]; LabelHidden = 16; TaskHidden = 0; Thresholds = [| 1.25; 5.0; 10.0 |] }
            let samples = (spikes 21 8L 64L 64L 0.1).permute (1L, 0L, 2L)
            let ratesAfter (point: TmSnnTraining.CalibrationPoint) =
                torch.manual_seed 13L |> ignore
                use model = new TmSnn(config)
                TmSnnTraining.calibrate model { TmSnnTraining.Settings.Default with CalibrateAt = point } samples
                use _ = torch.no_grad ()
                let input = samples.permute (1L, 0L, 2L)
                Array.init 3 (fun k -> TmSnnTraining.labelPathFiringRates (model.Run (input, k, false)))
            let rate = TmSnnTraining.Settings.Default.CalibrationRate
            let highest = ratesAfter TmSnnTraining.HighestThreshold
            Expect.floatClose { absolute = 0.01; relative = 0.0 } (Array.last highest.[2]) rate "the φ = 10 outputs fire at the calibration rate"
            for k in 0 .. 2 do
                Expect.isTrue (highest.[k] |> Array.forall (fun r -> r >= 0.5 * rate)) $"task {k + 1}: every layer fires (%A{highest.[k]})"
            let geometric = ratesAfter TmSnnTraining.GeometricMeanThreshold
            Expect.isLessThan (Array.last geometric.[2]) (0.1 * rate) $"geometric mean: the φ = 10 outputs are (nearly) silent (%A{geometric.[2]})"
        }
        test "training and evaluation report every task with its threshold and layer activity" {
            torch.manual_seed 6L |> ignore
            let train = Data.MovingPatterns.frameSet Data.MovingPatterns.Settings.Default 6 0 0 40
            let config = { TmSnnConfig.Thesis 512 MultiTask.movingPatternTasks.[0..1] with FeatureSizes = [| 16; 16 |]; LabelHidden = 8; TaskHidden = 8; Neuron = { CuLifParameters.Default with Dt = 33.0; VThreshold = 1.25 } }
            use model = new TmSnn(config)
            let before = toFloat64Array model.Thresholds
            let frames = train.Frames.gt(torch.tensor 0.0f).``to`` torch.float32
            let history = TmSnnTraining.fit model { TmSnnTraining.trainerDefaults with Epochs = 2; BatchSize = 10 } { TmSnnTraining.Settings.Default with Gamma = 0.3 } frames train.Labels ignore
            let reports = history.Entries
            Expect.equal reports.Length 2 "two epochs"
            Expect.equal (reports.[0].BatchesPerTask |> Array.sum) 4 "four batches, one task each"
            Expect.isTrue (reports |> Array.forall (fun r -> Double.IsFinite r.TrainLoss)) "finite loss"
            Expect.equal (toFloat64Array model.Thresholds) before "thresholds stay fixed"
            let e = TmSnnTraining.evaluate model 16 frames train.Labels
            Expect.equal (e |> Array.map (fun t -> t.Threshold)) [| 1.25; 5.0 |] "each task under its own threshold"
            Expect.equal (e |> Array.map (fun t -> Array2D.length1 t.Confusion)) [| 10; 2 |] "confusion per task"
            Expect.equal (e.[0].Activity |> Array.map (fun a -> a.Neurons)) [| 16; 16; 8; 12 |] "label-path layers"
            Expect.equal e.[0].Activity.[0].Macs (512.0 * 16.0) "ANN MACs of the first layer"
            for t in e do Expect.equal (t.Report.Support |> Array.sum) 40 "every sample evaluated"
        }
        test "the label path on Loihi's float model spikes like the module, one step later per layer" {
            torch.manual_seed 7L |> ignore
            use model = new TmSnn({ tiny ByThreshold 0 with Kernel = Reference })
            model.CalibrateWeights (spikes 8 12L 8L 6L 0.4, 2.5, 0.1) |> ignore
            use x = spikes 9 12L 1L 6L 0.4
            for task in [ 0; 1 ] do
                let out = model.Run (x, task, false)
                let torchSpikes = out.LabelPath x |> Array.map (fun s -> toFloat64Array s)
                let network = TmSnnLoihi.toFloatNetwork model task
                let input = Array.init 16 (fun t -> Array.init 6 (fun f -> t < 12 && torchSpikes.[0].[t * 6 + f] > 0.0))
                let simulated = FloatNetwork.simulate network input 16 None
                let mutable total = 0
                for l in 1 .. network.Layers.Length - 1 do
                    let n = network.Layers.[l].Count
                    for t in 0 .. 11 do
                        for j in 0 .. n - 1 do
                            let expected = torchSpikes.[l].[t * n + j] > 0.0
                            if expected then total <- total + 1
                            Expect.equal simulated.[l].[t + l].[j] expected $"task {task}, layer {l}, step {t}, neuron {j}"
                Expect.isGreaterThan total 0 "some spikes compared"
            let deployment = TmSnnLoihi.deploy model
            Expect.equal deployment.Thresholds.Length 2 "one threshold set per task"
            Expect.isGreaterThan deployment.Thresholds.[1].[1] deployment.Thresholds.[0].[1] "phi = 5 has a larger mantissa than 1.25"
            use classes = torch.tensor [| 3L; 4L |]
            let run = TmSnnLoihi.runTask ChipConstants.Loihi2 deployment model.Tasks 1 (spikes 10 12L 2L 6L 0.4 |> fun s -> s.transpose(0L, 1L)) classes
            Expect.equal run.StepsPerSample 17 "T + 5 layers"
            Expect.equal run.Profile.Steps 34 "two samples back to back"
            Expect.throwsT<ArgumentException> (fun () -> TmSnnLoihi.toFloatNetwork (new TmSnn(tiny ByCurrent 0)) 0 |> ignore) "current modulation has no Loihi mapping"
        }
        test "snn tmsnn trains, prints per-task accuracy and SynOps and writes the report folder" {
            inTemporaryFolder (fun dir ->
                let code, out, err =
                    runSnn [ "tmsnn"; "--train-samples"; "30"; "--test-samples"; "10"; "--epochs"; "1"; "--frames"; "6"; "--shrink"; "32"
                             "--loihi-samples"; "3"; "--threads"; "1"; "--device"; "cpu"; "--out"; dir ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.stringContains out "task 3 vertical" "per-task line"
                Expect.stringContains out "samples/s" "throughput per epoch"
                Expect.stringContains out "SynOps/sample" "SynOps"
                for file in [ "metrics.json"; "model.bin"; "tmsnn.net"; "tmsnn.nir"; "loihi-profile.txt" ] do
                    Expect.isTrue (File.Exists (Path.Combine (dir, file))) $"{file} written"
                use doc = JsonDocument.Parse (File.ReadAllText (Path.Combine (dir, "metrics.json")))
                let tasks = doc.RootElement.GetProperty "tasks"
                Expect.equal (tasks.GetArrayLength ()) 3 "three tasks"
                Expect.equal ((tasks.[2].GetProperty "threshold").GetDouble ()) 5.0 "task 3 at phi = 5"
                Expect.isTrue ((tasks.[0].GetProperty "loihi").GetProperty("accuracy").GetDouble () >= 0.0) "emulated accuracy"
                Expect.equal (Netx.validateFile (Path.Combine (dir, "tmsnn.net"))) [] "a valid NetX file")
        }
        test "snn tmsnn --device refuses what is no device, in one line" {
            let code, _, err = runSnn [ "tmsnn"; "--train-samples"; "30"; "--test-samples"; "10"; "--epochs"; "1"; "--device"; "gpu" ]
            Expect.equal code 2 "bad input"
            Expect.stringContains err "--device" "names the option"
            Expect.equal (err.Trim().Split('\n').Length) 1 "one line"
        }
        test "snn experiment --tables runs only the chosen tmsnn tables" {
            inTemporaryFolder (fun dir ->
                let code, out, err = runSnn [ "experiment"; "--suite"; "tmsnn"; "--quick"; "--seeds"; "0"; "--dataset"; "moving-patterns"; "--tables"; "table13"; "--out"; dir ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.stringContains out "test accuracy:" "each run logs its accuracies"
                let written = Directory.GetFiles (Path.Combine (dir, "tmsnn"), "*.json") |> Array.map Path.GetFileName |> Array.sort
                Expect.equal written [| "moving-patterns-table13.json" |] "table 13 only"
                use t13 = JsonDocument.Parse (File.ReadAllText (Path.Combine (dir, "tmsnn", "moving-patterns-table13.json")))
                Expect.equal (t13.RootElement.GetProperty("rows").GetArrayLength ()) 4 "ST and 2, 3, 4 tasks")
        }
        test "the quick tmsnn experiment suite writes tables 10-14, 16 and the learned thresholds" {
            inTemporaryFolder (fun dir ->
                let code, out, err = runSnn [ "experiment"; "--suite"; "tmsnn"; "--quick"; "--seeds"; "0,1"; "--out"; dir ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.stringContains out "Table 10" "table 10 printed"
                for id in [ "table10"; "table11"; "table12"; "table13"; "table14"; "table16"; "learned" ] do
                    Expect.isTrue (File.Exists (Path.Combine (dir, "tmsnn", $"moving-patterns-{id}.json"))) $"{id} JSON"
                    Expect.isTrue (File.Exists (Path.Combine (dir, "tmsnn", $"moving-patterns-{id}.md"))) $"{id} Markdown"
                use doc = JsonDocument.Parse (File.ReadAllText (Path.Combine (dir, "tmsnn", "moving-patterns-table10.json")))
                let rows = doc.RootElement.GetProperty "rows"
                Expect.equal (rows.GetArrayLength ()) 6 "base case and five threshold pairs"
                let seeds = rows.[1].GetProperty("values").GetProperty("task 1 acc (%)").GetProperty "seeds"
                Expect.equal (seeds.GetArrayLength ()) 2 "one value per seed"
                use t13 = JsonDocument.Parse (File.ReadAllText (Path.Combine (dir, "tmsnn", "moving-patterns-table13.json")))
                Expect.equal (t13.RootElement.GetProperty("rows").GetArrayLength ()) 4 "ST and 2, 3, 4 tasks"
                use learned = JsonDocument.Parse (File.ReadAllText (Path.Combine (dir, "tmsnn", "moving-patterns-learned.json")))
                let learnedRows = learned.RootElement.GetProperty "rows"
                Expect.equal (learnedRows.GetArrayLength ()) 4 "hand-set and three SynOps weights"
                let value (row: int) (metric: string) = learnedRows.[row].GetProperty("values").GetProperty(metric).GetProperty("mean").GetDouble ()
                Expect.equal (value 0 "task 2 phi") 5.0 "the hand-set row keeps phi2 = 5"
                for row in 1 .. 3 do
                    Expect.isTrue (value row "task 1 phi" >= 0.1 && value row "task 1 SynOps/MACs" >= 0.0) "learned thresholds stay at or above the floor"
                Expect.notEqual (value 3 "task 1 phi") 1.25 "hyper steps moved the learned threshold")
        }
    ]
