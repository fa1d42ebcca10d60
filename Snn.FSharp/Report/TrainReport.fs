/// `snn train --report DIR`: the run folder of a `snn train` run (history, TensorBoard events, plots).
module Snn.Report.TrainReport

open System
open TorchSharp
open Snn
open Snn.Data
open Snn.Report

/// Writes the run folder: the confusion matrix of the whole test split, and the rasters and firing-rate maps of the
/// input, hidden and output layers on the first (up to) 32 test samples. The test frames are [N; T; 2·size·size]
/// (OFF and ON channels of a size × size sensor). Returns the paths written.
let write (directory: string) (model: Modules.DenseSnn) (history: Training.History) (test: MovingPatterns.FrameSet)
          (classNames: string[]) (size: int) : string list =
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
    let classes = classNames.Length
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
    use inputImage = inputSpikes.reshape (t, b, 2L, int64 size, int64 size)
    let report =
        { RunReport.OfHistory history with
            Confusion = Some confusion
            ClassNames = Some classNames
            SpikeSamples = [ "input", inputSpikes; "hidden", hidden; "output", output ]
            Activations = [ "input", inputImage; "hidden", hidden; "output", output ] }
    RunFolder.write directory report
