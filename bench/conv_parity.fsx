// Accuracy parity of the sparse convolution (issue 17's condition for a default lever): a W2-shaped network
// (three blocks [SpikeConv2d 3×3 → 64, BatchNorm2dLayer, LifLayer, MaxPool2x2Layer], Flatten, Linear → 10, LIF;
// W2's neuron) trained by the library's classifier loop (`Trainer.train`) with the convolutions' own kernels on
// (`SpikeLinearOptions.Default`: the sparse path for the spike input of the second and third convolutions, and since
// round 10 the direct weight gradient for the first) or off (`SpikeLinearOptions.Dense`, exactly torch's conv2d),
// everything else equal; or "fused": the "on" network whose first convolution, batch norm, LIF and pooling run as one
// fused node (`ConvBatchNormLifPool`, round 11; its conv is not counted), paired with the "off" runs in the summary:
// same seed, same initial weights, same batches. `Default` computes the sparse layers' input gradients in bfloat16 where
// `SpikeLinearOptions.FasterBf16` holds (round 17); "fused-float32" is "fused" with float32 input gradients (round
// 17's float32 side). Per run: the final test accuracy, how many training batches each
// convolution ran on the sparse path (`LastCallSparse` after each forward), the input activity of each convolution,
// the firing rates and the seconds per epoch. A measurement, not a test:
//   dotnet fsi build.fsx build
//   dotnet fsi bench/conv_parity.fsx run <moving-patterns|event-fashion-mnist> <on|off|fused|fused-float32> <seeds, e.g. 0,1,2> <epochs> <train> <test> <T> <results.jsonl>
//   dotnet fsi bench/conv_parity.fsx summary <results.jsonl> [more.jsonl ...]
// One intra-op thread per process (torch.set_num_threads 1), so two runs can share a 2-core machine.
#load "../examples/shared/references.fsx"

open System
open System.IO
open System.Text.Json
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons

type Tensor = torch.Tensor

/// What one convolution saw during a run: forward calls in training mode and how many of them took the sparse path,
/// the summed fraction of non-zero inputs over those calls, and the same counts in evaluation mode.
type ConvRecord =
    { Name: string
      /// Inputs per output window, C·k² (the sparse path needs at least `SpikeConv2d.MinimumSparseWindow`).
      Window: int
      TrainCalls: int
      TrainSparse: int
      MeanActivity: float
      MaxActivity: float
      EvalCalls: int
      EvalSparse: int }

/// The firing rate (spikes per neuron and step) of one neuron layer.
type LayerRate = { Layer: string; Rate: float }

/// One training run.
type RunRecord =
    { Dataset: string
      Sparse: bool
      /// The first block ran as one fused node (mode "fused").
      InputBlock: bool
      Seed: int
      Epochs: int
      Train: int
      Test: int
      Frames: int
      FinalTestAccuracy: float
      BestTestAccuracy: float
      /// The final weights' test accuracy with the convolutions switched to the other path (dense for a sparse run,
      /// sparse for a dense one): what the path alone changes in evaluation, without training's divergence.
      OtherPathTestAccuracy: float
      TestAccuracies: float[]
      TrainLosses: float[]
      /// Mean wall seconds of an epoch (training and the test evaluation after it).
      SecondsPerEpoch: float
      Convolutions: ConvRecord[]
      /// Firing rate of every neuron layer before the trainer's calibration and after training (64 training samples).
      RatesAtInit: LayerRate[]
      RatesAtEnd: LayerRate[]
      Log: string[] }

/// A SpikeConv2d (3×3, stride 1, padding 1) that counts, after every forward call, whether the call ran the sparse
/// path (`LastCallSparse`) and how active its input was.
type CountingConv(name: string, inChannels: int, outChannels: int, options: SpikeLinearOptions) =
    inherit SpikeConv2d(name, inChannels, outChannels, 3, options)
    let mutable trainCalls, trainSparse, evalCalls, evalSparse = 0, 0, 0, 0
    let mutable activitySum, activityMax = 0.0, 0.0
    override this.forward (x: Tensor) : Tensor =
        let y = base.forward x
        if this.training then
            let activity = (use nonZero = x.count_nonzero () in float (nonZero.ToInt64 ())) / float (x.numel ())
            trainCalls <- trainCalls + 1
            if this.LastCallSparse then trainSparse <- trainSparse + 1
            activitySum <- activitySum + activity
            activityMax <- max activityMax activity
        else
            evalCalls <- evalCalls + 1
            if this.LastCallSparse then evalSparse <- evalSparse + 1
        y
    member _.Record : ConvRecord =
        { Name = name; Window = inChannels * 9; TrainCalls = trainCalls; TrainSparse = trainSparse
          MeanActivity = (if trainCalls = 0 then nan else activitySum / float trainCalls); MaxActivity = activityMax
          EvalCalls = evalCalls; EvalSparse = evalSparse }

/// W2's neuron: v += (x - v)/2, threshold 1, hard reset, sigmoid(4) surrogate.
let neuron = { LifParameters.Default with TauMem = 2.0; Dt = 1.0; Scheme = ForwardEuler; Surrogate = Sigmoid 4.0 }

/// The W2-shaped network for frames [T; B; 2·size·size] (OFF plane, then ON, each size × size): the frames are
/// unflattened to [2; size; size], three conv blocks halve the size three times (floor), the read-out Linear is a
/// plain torch Linear in both modes, so only the convolutions differ between the runs.
let build (options: SpikeLinearOptions) (inputBlock: bool) (size: int) : SpikingSequential * SpikeConv2d[] * CountingConv[] =
    let first = if inputBlock then Some (new ConvBatchNormLifPool("block0", 2, 64, 3, neuron, Fused, options)) else None
    let convs = [| for l in (if inputBlock then 1 else 0) .. 2 -> new CountingConv($"conv{l}", (if l = 0 then 2 else 64), 64, options) |]
    let side = size / 2 / 2 / 2
    let net =
        new SpikingSequential("conv-parity", [|
            yield torch.nn.Unflatten (1L, [| 2L; int64 size; int64 size |]) :> torch.nn.Module<Tensor, Tensor>
            match first with Some block -> yield block | None -> ()
            for conv in convs do
                let l = conv.Record.Name.Substring 4
                yield conv :> torch.nn.Module<Tensor, Tensor>
                yield new BatchNorm2dLayer($"bn{l}", 64)
                yield new LifLayer($"lif{l}", neuron, Fused)
                yield new MaxPool2x2Layer($"pool{l}")
            yield torch.nn.Flatten ()
            yield TimeLayers.linear "fc" (64 * side * side) 10
            yield new LifLayer("lif_out", neuron, Fused) |])
    let all = [| match first with Some block -> yield block.Conv | None -> ()
                 for c in convs -> c :> SpikeConv2d |]
    net, all, convs

/// Train and test frames [N; T; 2·size·size] with labels, and the sensor size, as `snn train` loads them (moving
/// patterns: event counts of the stream `seed`; event Fashion-MNIST: binary spikes, the first images of each split).
let load (dataset: string) (seed: int) (frames: int) (train: int) (test: int) =
    match dataset with
    | "moving-patterns" ->
        let settings = Data.MovingPatterns.Settings.Default
        let tr, te = Data.MovingPatterns.trainTest settings frames seed train test
        (tr.Frames, tr.Labels), (te.Frames, te.Labels), settings.Size
    | "event-fashion-mnist" ->
        match TmSnnSetup.eventFashionMnist Data.ImageSets.defaultFashionMnistFolder frames train test with
        | Ok d -> (d.TrainFrames, d.TrainClasses), (d.TestFrames, d.TestClasses), Data.DvsEmulator.Settings.Default.SensorSize
        | Error message -> failwith message
    | other -> failwithf "dataset: '%s' is neither moving-patterns nor event-fashion-mnist" other

let run (dataset: string) (sparse: bool) (inputBlock: bool) (float32InputGradients: bool) (seeds: int[]) (epochs: int) (train: int) (test: int) (frames: int) (output: string) =
    torch.set_num_threads 1
    Allocator.keepFreedMemory () |> ignore
    Allocator.releaseBeforeSteps <- true
    let options =
        if not sparse then SpikeLinearOptions.Dense
        elif float32InputGradients then { SpikeLinearOptions.Default with Bf16InputGradient = false }
        else SpikeLinearOptions.Default
    // Fashion-MNIST's frames do not depend on the seed: load them once.
    let fixedData = if dataset = "moving-patterns" then None else Some (load dataset 0 frames train test)
    for seed in seeds do
        let clock = Diagnostics.Stopwatch.StartNew ()
        let (trainX, trainY), (testX, testY), size = match fixedData with Some d -> d | None -> load dataset seed frames train test
        let prepared = clock.Elapsed.TotalSeconds
        torch.manual_seed (int64 seed) |> ignore
        let net, allConvs, convs = build options inputBlock size
        let log = ResizeArray<string> ()
        let settings =
            { Training.TrainerSettings.Default with
                Epochs = epochs; BatchSize = 32; LearningRate = 1e-3; Seed = seed
                Log = fun line -> log.Add line; printfn "   log: %s" line }
        use probe = Data.Dataset.batchOf trainX [| 0L .. 63L |]
        let rates () = (Calibration.firingRates net probe).Value |> Array.map (fun (n, r) -> { Layer = n; Rate = r })
        let describe (rates: LayerRate[]) = rates |> Array.map (fun r -> $"{r.Layer} {r.Rate:F3}") |> String.concat ", "
        let ratesAtInit = rates ()
        printfn "== %s, sparse %b, input block %b, seed %d: %d train / %d test, T = %d, %dx%d (data in %.1f s)" dataset sparse inputBlock seed train test frames size size prepared
        printfn "   rates at initialisation: %s" (describe ratesAtInit)
        let history =
            Trainer.train net settings (trainX, trainY) (testX, testY)
                (fun e -> printfn "   epoch %d: loss %.4f, train %.1f %%, test %.1f %%, %.1f s" e.Epoch e.TrainLoss (100.0 * e.TrainAccuracy) (100.0 * e.TestAccuracy) e.Seconds)
                Threading.CancellationToken.None
        let ratesAtEnd = rates ()
        for c in allConvs do c.Options <- (if sparse then SpikeLinearOptions.Dense else SpikeLinearOptions.Default)
        let otherPath = Training.evaluate net settings.BatchSize testX testY
        for c in allConvs do c.Options <- options
        let entries = history.Entries
        let record =
            { Dataset = dataset; Sparse = sparse; InputBlock = inputBlock; Seed = seed; Epochs = epochs; Train = train; Test = test; Frames = frames
              FinalTestAccuracy = (Array.last entries).TestAccuracy
              BestTestAccuracy = entries |> Array.map (fun e -> e.TestAccuracy) |> Array.max
              OtherPathTestAccuracy = otherPath
              TestAccuracies = entries |> Array.map (fun e -> e.TestAccuracy)
              TrainLosses = entries |> Array.map (fun e -> e.TrainLoss)
              SecondsPerEpoch = entries |> Array.averageBy (fun e -> e.Seconds)
              Convolutions = convs |> Array.map (fun c -> c.Record)
              RatesAtInit = ratesAtInit; RatesAtEnd = ratesAtEnd; Log = log.ToArray () }
        for c in record.Convolutions do
            printfn "   %s (window %d): sparse in %d of %d training calls, %d of %d evaluation calls; input activity mean %.4f, max %.4f"
                c.Name c.Window c.TrainSparse c.TrainCalls c.EvalSparse c.EvalCalls c.MeanActivity c.MaxActivity
        printfn "   rates after training: %s" (describe ratesAtEnd)
        printfn "   final test accuracy %.2f %% (%.2f %% with the convolutions on the other path), %.1f s per epoch"
            (100.0 * record.FinalTestAccuracy) (100.0 * otherPath) record.SecondsPerEpoch
        File.AppendAllText (output, JsonSerializer.Serialize record + "\n")
        net.Dispose ()
        if fixedData.IsNone then
            for t in [ trainX; trainY; testX; testY ] do t.Dispose ()

// ---- summary ----------------------------------------------------------------------------------------------------

let mean (xs: float[]) = Array.average xs
let std (xs: float[]) = if xs.Length < 2 then nan else sqrt ((xs |> Array.sumBy (fun x -> (x - mean xs) ** 2.0)) / float (xs.Length - 1))

/// Per dataset: final test accuracy with the sparse path off and on (mean ± std over seeds), the paired differences
/// on − off per seed with their mean ± standard error, side by side; then what the convolutions of the runs with the
/// sparse path on saw (sparse calls and input activity, summed or ranged over seeds).
let summary (files: string list) =
    let records =
        [| for f in files do
             for line in File.ReadAllLines f do
                 if not (String.IsNullOrWhiteSpace line) then yield JsonSerializer.Deserialize<RunRecord> line |]
    let byDataset = records |> Array.groupBy (fun r -> r.Dataset) |> Array.sortBy fst
    let percent (r: RunRecord) = 100.0 * r.FinalTestAccuracy
    let meanStd (runs: RunRecord[]) =
        let a = runs |> Array.map percent
        let perSeed = runs |> Array.map (fun r -> $"{percent r:F1}") |> String.concat " "
        $"{mean a:F2} ± {std a:F2} ({perSeed})"
    printfn "| dataset | seeds | sparse off: test accuracy %% | sparse on: test accuracy %% | on − off per seed (points) | on − off mean ± s.e. | s / epoch off, on (mean) |"
    printfn "|---|---|---|---|---|---|---|"
    for dataset, runs in byDataset do
        let seeds = runs |> Array.map (fun r -> r.Seed) |> Array.distinct |> Array.sort
        let find sparse seed = runs |> Array.tryFind (fun r -> r.Sparse = sparse && r.Seed = seed)
        let paired = seeds |> Array.choose (fun s -> match find false s, find true s with Some off, Some on -> Some (off, on) | _ -> None)
        let offs, ons = Array.map fst paired, Array.map snd paired
        let d = paired |> Array.map (fun (off, on) -> percent on - percent off)
        if paired.Length > 0 then
            printfn "| %s | %s | %s | %s | %s | %+.2f ± %.2f | %.0f, %.0f |" dataset (paired |> Array.map (fun (o, _) -> string o.Seed) |> String.concat ",")
                (meanStd offs) (meanStd ons) (d |> Array.map (sprintf "%+.1f") |> String.concat " ") (mean d) (std d / sqrt (float d.Length))
                (offs |> Array.averageBy (fun r -> r.SecondsPerEpoch)) (ons |> Array.averageBy (fun r -> r.SecondsPerEpoch))
    let swapped = records |> Array.filter (fun r -> r.OtherPathTestAccuracy > 0.0)
    if swapped.Length > 0 then
        printfn ""
        printfn "| dataset | seed | trained with sparse | final test accuracy %% | same weights, other path %% |"
        printfn "|---|---|---|---|---|"
        for r in swapped |> Array.sortBy (fun r -> r.Dataset, r.Seed, r.Sparse) do
            printfn "| %s | %d | %s | %.2f | %.2f |" r.Dataset r.Seed (if r.Sparse then "on" else "off") (percent r) (100.0 * r.OtherPathTestAccuracy)
    printfn ""
    printfn "| dataset | sparse | convolution (inputs per window) | training calls on the sparse path | evaluation calls on the sparse path | input activity per training call, mean (max) over seeds |"
    printfn "|---|---|---|---|---|---|"
    for dataset, runs in byDataset do
        for sparse, group in runs |> Array.groupBy (fun r -> r.Sparse) |> Array.sortBy fst do
            for i in 0 .. group.[0].Convolutions.Length - 1 do
                let cs = group |> Array.map (fun r -> r.Convolutions.[i])
                let activity = cs |> Array.map (fun c -> $"{c.MeanActivity:F3}") |> String.concat " "
                printfn "| %s | %s | %s (%d) | %d / %d | %d / %d | %s (%.3f) |" dataset (if sparse then "on" else "off") cs.[0].Name cs.[0].Window
                    (cs |> Array.sumBy (fun c -> c.TrainSparse)) (cs |> Array.sumBy (fun c -> c.TrainCalls))
                    (cs |> Array.sumBy (fun c -> c.EvalSparse)) (cs |> Array.sumBy (fun c -> c.EvalCalls))
                    activity (cs |> Array.map (fun c -> c.MaxActivity) |> Array.max)

match fsi.CommandLineArgs |> Array.toList |> List.tail with
| [ "run"; dataset; mode; seeds; epochs; train; test; frames; output ] ->
    let sparse, inputBlock, float32InputGradients =
        match mode with
        | "on" -> true, false, false
        | "off" -> false, false, false
        | "fused" -> true, true, false
        | "fused-float32" -> true, true, true
        | other -> failwithf "mode: '%s' is not on, off, fused or fused-float32" other
    run dataset sparse inputBlock float32InputGradients (seeds.Split ',' |> Array.map int) (int epochs) (int train) (int test) (int frames) output
| "summary" :: files when not files.IsEmpty -> summary files
| _ -> eprintfn "usage: conv_parity.fsx run <dataset> <on|off|fused|fused-float32> <seeds> <epochs> <train> <test> <T> <results.jsonl> | summary <results.jsonl>..."
