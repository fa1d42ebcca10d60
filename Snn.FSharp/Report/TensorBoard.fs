/// Training history as TensorBoard event files, written by TorchSharp's SummaryWriter (torch.utils.tensorboard).
[<RequireQualifiedAccess>]
module Snn.Report.TensorBoard

open System
open System.IO
open TorchSharp


/// The scalar tags written per epoch (TensorBoard groups them by the prefix before '/'), with the value of each.
let scalars : (string * (Snn.Training.HistoryEntry -> float)) list =
    [ "loss/train", (fun e -> e.TrainLoss)
      "accuracy/train", (fun e -> e.TrainAccuracy)
      "accuracy/test", (fun e -> e.TestAccuracy)
      "optimizer/learning_rate", (fun e -> e.LearningRate)
      "optimizer/gradient_norm", (fun e -> e.GradientNorm)
      "time/epoch_seconds", (fun e -> e.Seconds) ]

/// The suffix of the event files written here, so that rewriting a history replaces only its own earlier file.
let fileSuffix = "snn-history"

/// Writes `entries` into `directory` as one TensorBoard event file (events.out.tfevents.*.snn-history): per epoch
/// (step = epoch number) one scalar event for every tag of `scalars` (values as float32, as TensorBoard stores
/// them; accuracies in [0, 1]). The wall time of epoch e is the write time minus the seconds of the later epochs,
/// in whole Unix seconds. The file is written in a temporary folder and
/// moved in whole; an earlier .snn-history file in `directory` is then removed. Returns the file's path.
let writeHistory (directory: string) (entries: Snn.Training.HistoryEntry[]) : string =
    if String.IsNullOrWhiteSpace directory then invalidArg "directory" "must name a folder"
    if isNull entries then nullArg "entries"
    if entries.Length = 0 then invalidArg "entries" "is empty: no epoch to write"
    let target = Path.GetFullPath directory
    Directory.CreateDirectory target |> ignore
    let earlier = Directory.GetFiles (target, $"events.out.tfevents.*.{fileSuffix}")
    let staging = Path.Combine (target, $".staging-{Guid.NewGuid():N}")
    try
        let writer = torch.utils.tensorboard.SummaryWriter (staging, fileSuffix)
        let now = float (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds ()) / 1000.0
        let total = entries |> Array.sumBy (fun e -> e.Seconds)
        let mutable elapsed = 0.0
        for e in entries do
            elapsed <- elapsed + e.Seconds
            let wallTime = int64 (Math.Round (now - (total - elapsed)))
            for (tag, value) in scalars do
                writer.add_scalar (tag, float32 (value e), e.Epoch, Nullable wallTime)
        let written = Directory.GetFiles staging |> Array.exactlyOne
        let path = Path.Combine (target, Path.GetFileName written)
        File.Move (written, path, true)
        for old in earlier do
            if old <> path then File.Delete old
        path
    finally
        if Directory.Exists staging then Directory.Delete (staging, true)
