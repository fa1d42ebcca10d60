/// Training curves: loss and accuracies per epoch from a training history.
[<RequireQualifiedAccess>]
module Snn.Report.TrainingCurves

open System
open OxyPlot
open OxyPlot.Axes
open OxyPlot.Series


let private check (entries: Snn.Training.HistoryEntry[]) =
    if isNull entries then nullArg "entries"
    if entries.Length = 0 then invalidArg "entries" "is empty: no epoch to plot"

/// Mean training loss (left axis) and training and test accuracy in % (right axis, 0..100) against the epoch.
let plot (title: string) (entries: Snn.Training.HistoryEntry[]) : PlotModel =
    check entries
    let model = PlotStyle.model title
    let best = entries |> Array.maxBy (fun e -> e.TestAccuracy, -e.Epoch)
    model.Subtitle <- $"best test accuracy {100.0 * best.TestAccuracy:F2} %% at epoch {best.Epoch}"
    let x = PlotStyle.linearAxis AxisPosition.Bottom "epoch"
    x.MinimumMajorStep <- 1.0
    x.MinimumMinorStep <- 1.0
    model.Axes.Add x
    let loss = PlotStyle.linearAxis AxisPosition.Left "training loss"
    loss.Key <- "loss"
    model.Axes.Add loss
    let accuracy = PlotStyle.linearAxis AxisPosition.Right "accuracy (%)"
    accuracy.Key <- "accuracy"
    accuracy.Minimum <- 0.0
    accuracy.Maximum <- 100.0
    accuracy.MajorGridlineStyle <- LineStyle.None
    model.Axes.Add accuracy
    let line (name: string) (axis: string) (color: OxyColor) (dash: LineStyle) (value: Snn.Training.HistoryEntry -> float) =
        let s = LineSeries (Title = name, YAxisKey = axis, Color = color, LineStyle = dash, MarkerType = MarkerType.Circle,
                            MarkerSize = 3.0, MarkerFill = color)
        for e in entries do s.Points.Add (DataPoint (float e.Epoch, value e))
        model.Series.Add s
    line "training loss" "loss" (OxyColor.FromRgb (214uy, 39uy, 40uy)) LineStyle.Solid (fun e -> e.TrainLoss)
    line "training accuracy" "accuracy" (OxyColor.FromRgb (31uy, 119uy, 180uy)) LineStyle.Dash (fun e -> 100.0 * e.TrainAccuracy)
    line "test accuracy" "accuracy" (OxyColor.FromRgb (44uy, 160uy, 44uy)) LineStyle.Solid (fun e -> 100.0 * e.TestAccuracy)
    PlotStyle.addLegend model
    model

/// Writes the curves of `plot` to `path` (.png or .svg by extension) at `size`, atomically.
let write (path: string) (size: PlotSize) (title: string) (entries: Snn.Training.HistoryEntry[]) : unit =
    PlotFile.write path size (plot title entries)
