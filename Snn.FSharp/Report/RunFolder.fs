/// One folder with everything a person needs to judge a training run: history.json, TensorBoard events and plots.
namespace Snn.Report

open System
open System.IO
open System.Text
open TorchSharp


/// What `RunFolder.write` writes. Spike tensors are time-first [T; B; ...] (or [T; N] for one sample).
[<NoEquality; NoComparison>]
type RunReport =
    { /// The training history (from `Training.train`, or built from a run's epochs).
      History: Snn.Training.History
      /// Confusion matrix [C; C] on the test set (rows = true class), when known.
      Confusion: int[,] option
      /// Class names for the confusion matrix (C names), when known; indices are shown otherwise.
      ClassNames: string[] option
      /// Named spike recordings; sample 0 of each is drawn as a raster (raster-<name>.png).
      SpikeSamples: (string * torch.Tensor) list
      /// Named spike recordings whose per-neuron firing rates are drawn as activation maps (activation-<name>.png).
      Activations: (string * torch.Tensor) list
      /// Size of every plot.
      PlotSize: PlotSize }

    /// A report of `history` alone (no confusion matrix, no spikes) at the default plot size.
    static member OfHistory (history: Snn.Training.History) =
        { History = history; Confusion = None; ClassNames = None; SpikeSamples = []; Activations = []
          PlotSize = PlotSize.Default }

/// Writes run folders.
[<RequireQualifiedAccess>]
module RunFolder =

    /// The file-name form of a recording name: letters, digits, '-' and '_' kept, anything else as '_'.
    let fileStem (name: string) : string =
        if String.IsNullOrWhiteSpace name then invalidArg "name" "must not be empty"
        let sb = StringBuilder ()
        for ch in name do sb.Append (if Char.IsAsciiLetterOrDigit ch || ch = '-' || ch = '_' then ch else '_') |> ignore
        sb.ToString ()

    /// Writes into `directory` (created when missing), each file atomically: history.json (`HistoryJson`),
    /// tensorboard/ (one event file, see `TensorBoard.writeHistory`), curves.png (`TrainingCurves`), confusion.png
    /// when a confusion matrix is given, raster-<name>.png per spike sample and activation-<name>.png per
    /// activation recording. Returns the paths written, in that order. Checks every input before writing any file.
    let write (directory: string) (report: RunReport) : string list =
        if String.IsNullOrWhiteSpace directory then invalidArg "directory" "must name a folder"
        let entries = report.History.Entries
        if isNull entries || entries.Length = 0 then invalidArg "report" "History.Entries is empty: no epoch to report"
        report.Confusion |> Option.iter (fun m -> ConfusionPlot.classLabels m report.ClassNames |> ignore)
        if report.Confusion.IsNone && report.ClassNames.IsSome then
            invalidArg "report" "ClassNames is given without a Confusion matrix"
        let stems names =
            let s = names |> List.map fileStem
            if List.distinct s <> s then invalidArg "report" $"recording names %A{names} collide as file names"
            s
        let rasterStems = stems (report.SpikeSamples |> List.map fst)
        let activationStems = stems (report.Activations |> List.map fst)
        let full = Path.GetFullPath directory
        Directory.CreateDirectory full |> ignore
        let file name = Path.Combine (full, name)
        let size = report.PlotSize
        [ let history = file "history.json"
          Snn.AtomicFile.write history (fun p -> File.WriteAllText (p, Snn.Training.HistoryJson.serialize entries))
          yield history
          yield TensorBoard.writeHistory (file "tensorboard") entries
          let curves = file "curves.png"
          TrainingCurves.write curves size "Training curves" entries
          yield curves
          match report.Confusion with
          | Some m ->
              let confusion = file "confusion.png"
              ConfusionPlot.write confusion size "Confusion matrix (test set)" m report.ClassNames
              yield confusion
          | None -> ()
          for (name, spikes), stem in List.zip report.SpikeSamples rasterStems do
              let raster = file $"raster-{stem}.png"
              SpikeRaster.write raster size $"Spike raster: {name} (sample 0)" spikes 0
              yield raster
          for (name, spikes), stem in List.zip report.Activations activationStems do
              let map = file $"activation-{stem}.png"
              use rates = ActivationMap.firingRates spikes
              ActivationMap.write map size $"Firing rates: {name}" rates
              yield map ]
