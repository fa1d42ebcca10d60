/// Confusion-matrix heatmaps with the count written in every cell.
[<RequireQualifiedAccess>]
module Snn.Report.ConfusionPlot

open System
open OxyPlot
open OxyPlot.Axes
open OxyPlot.Series

/// Checks a confusion matrix M [C; C] (rows = true class, columns = predicted class, counts >= 0) and its class
/// names (C names, or None for "0", "1", ...); returns the names to show.
let classLabels (confusion: int[,]) (classNames: string[] option) : string[] =
    if isNull confusion then nullArg "confusion"
    let c = Array2D.length1 confusion
    if c = 0 then invalidArg "confusion" "is empty"
    if Array2D.length2 confusion <> c then
        invalidArg "confusion" $"must be square [C; C], got [{c}; {Array2D.length2 confusion}]"
    confusion |> Array2D.iteri (fun i j v -> if v < 0 then invalidArg "confusion" $"[{i}, {j}] = {v} is a negative count")
    match classNames with
    | None -> Array.init c string
    | Some names ->
        if isNull names then nullArg "classNames"
        if names.Length <> c then invalidArg "classNames" $"has {names.Length} names for {c} classes"
        names

/// A heatmap of `confusion` [C; C] (rows = true class from the top, columns = predicted class), each cell
/// labelled with its count; the colour scale runs from 0 (white) to the largest count.
let plot (title: string) (confusion: int[,]) (classNames: string[] option) : PlotModel =
    let labels = classLabels confusion classNames
    let c = labels.Length
    let model = PlotStyle.model title
    let total = Seq.sum (Seq.cast<int> confusion)
    let correct = Seq.sum (seq { for k in 0 .. c - 1 -> confusion.[k, k] })
    model.Subtitle <- $"{total} samples, accuracy {(if total = 0 then 0.0 else 100.0 * float correct / float total):F1} %%"
    model.Axes.Add (PlotStyle.categoryAxis AxisPosition.Bottom "predicted class" labels)
    let y = PlotStyle.categoryAxis AxisPosition.Left "true class" labels
    // Class 0 at the top, as confusion matrices are printed.
    y.StartPosition <- 1.0
    y.EndPosition <- 0.0
    model.Axes.Add y
    let largest = max 1 (Seq.max (Seq.cast<int> confusion))
    model.Axes.Add (LinearColorAxis (Position = AxisPosition.Right, Palette = PlotStyle.countPalette, Minimum = 0.0,
                                     Maximum = float largest, Title = "samples"))
    // HeatMapSeries indexes Data.[x, y]: x = predicted class, y = true class.
    let data = Array2D.init c c (fun predicted truth -> float confusion.[truth, predicted])
    let cells =
        HeatMapSeries (X0 = 0.0, X1 = float (c - 1), Y0 = 0.0, Y1 = float (c - 1), Data = data,
                       CoordinateDefinition = HeatMapCoordinateDefinition.Center, Interpolate = false,
                       LabelFormatString = "0", LabelFontSize = (if c <= 30 then 0.3 else 0.0))
    model.Series.Add cells
    model

/// Writes the heatmap of `plot` to `path` (.png or .svg by extension) at `size`, atomically.
let write (path: string) (size: PlotSize) (title: string) (confusion: int[,]) (classNames: string[] option) : unit =
    PlotFile.write path size (plot title confusion classNames)
