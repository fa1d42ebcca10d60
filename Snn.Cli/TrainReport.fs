/// `snn train --report DIR`: the run folder of a `snn train` run (history, TensorBoard events, plots).
module Snn.Cli.TrainReport

open System
open TorchSharp
open Snn
open Snn.Data
open Snn.Report

/// Global gradient norms measured after every optimisation step, grouped by epoch. `Training.fit` calls its batch
/// callback after `optimizer.step ()` and before the next `zero_grad ()`, so the parameters still hold that step's
/// gradients there (Adam does not change them).
type GradientNorms() =
    let sums = Collections.Generic.Dictionary<int, float * int> ()

    /// Records the global L2 norm of the model's current gradients for `epoch`.
    member _.Record (epoch: int) (model: torch.nn.Module) =
        let norm = Training.clipGradients None model
        let sum, count = match sums.TryGetValue epoch with | true, v -> v | _ -> (0.0, 0)
        sums.[epoch] <- (sum + norm, count + 1)

    /// The mean norm of `epoch`'s steps.
    member _.Mean (epoch: int) =
        match sums.TryGetValue epoch with
        | true, (sum, count) when count > 0 -> sum / float count
        | _ -> invalidOp $"no gradient norm was recorded in epoch {epoch}"

/// The history of a `Training.fit` run: Adam's constant learning rate, the measured gradient norms, and each epoch's
/// own seconds (the difference of the cumulative times fit reports).
let history (learningRate: float) (norms: GradientNorms) (reports: Training.EpochReport list) : Training.History =
    let entries =
        reports
        |> List.mapi (fun i r ->
            let before = if i = 0 then 0.0 else reports.[i - 1].ElapsedSeconds
            ({ Epoch = r.Epoch; LearningRate = learningRate; TrainLoss = r.TrainLoss
               TrainAccuracy = r.TrainAccuracy; TestAccuracy = r.TestAccuracy; GradientNorm = norms.Mean r.Epoch
               Seconds = r.ElapsedSeconds - before } : Training.HistoryEntry))
        |> List.toArray
    let best = if entries.Length = 0 then 0 else (entries |> Array.maxBy (fun e -> e.TestAccuracy, -e.Epoch)).Epoch
    ({ Entries = entries; BestEpoch = best; StoppedEarly = false } : Training.History)

/// Writes the run folder: the confusion matrix of the whole test split, and the rasters and firing-rate maps of the
/// input, hidden and output layers on the first (up to) 32 test samples. Returns the paths written.
let write (directory: string) (model: Modules.DenseSnn) (history: Training.History) (test: MovingPatterns.FrameSet)
          (settings: MovingPatterns.Settings) : string list =
    model.eval ()
    use _ = torch.no_grad ()
    let n = test.Frames.shape.[0]
    let predicted =
        [| for start in 0L .. 256L .. n - 1L do
             use scope = torch.NewDisposeScope ()
             use index = torch.arange (start, min n (start + 256L), dtype = torch.int64)
             let output = model.forward (test.Frames.index_select(0L, index).transpose (0L, 1L))
             yield! Tensors.toInt64Array ((Loss.spikeCounts output).argmax 1L) |]
    let labels = Tensors.toInt64Array test.Labels
    let classes = MovingPatterns.classNames.Length
    let confusion = Metrics.confusionMatrix classes predicted labels
    let hiddenLayer = model.named_children () |> Seq.find (fun struct (name, _) -> name = "lif1") |> fun struct (_, m) -> m
    use monitor = new SpikeMonitor ([| "hidden", hiddenLayer :?> torch.nn.Module<torch.Tensor, torch.Tensor> |])
    use index = torch.arange (0L, min n 32L, dtype = torch.int64)
    use input = test.Frames.index_select(0L, index).transpose (0L, 1L)
    use output = model.forward input
    let hidden = (monitor.Spikes "hidden").[0]
    let t, b = input.shape.[0], input.shape.[1]
    // Input frames hold event counts per bin; a raster marks bins with at least one event. The OFF and ON
    // channels are drawn as two [Size; Size] images.
    use inputSpikes = input.gt (torch.tensor 0.0f)
    use inputImage = inputSpikes.reshape (t, b, 2L, int64 settings.Size, int64 settings.Size)
    let report =
        { RunReport.OfHistory history with
            Confusion = Some confusion
            ClassNames = Some MovingPatterns.classNames
            SpikeSamples = [ "input", inputSpikes; "hidden", hidden; "output", output ]
            Activations = [ "input", inputImage; "hidden", hidden; "output", output ] }
    RunFolder.write directory report
