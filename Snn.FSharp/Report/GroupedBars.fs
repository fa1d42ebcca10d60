/// Grouped bar charts: one group of bars per category, one bar (colour) per series, e.g. SynOps per layer
/// (categories) and per threshold scale (series).
[<RequireQualifiedAccess>]
module Snn.Report.GroupedBars

open System
open OxyPlot
open OxyPlot.Axes
open OxyPlot.Series

/// Vertical bars: category i of every series side by side, values on the left axis titled `valueTitle` (starting
/// at 0), category names below the axis titled `categoryTitle`. Every series gives one finite value >= 0 per
/// category.
let plot (title: string) (categoryTitle: string) (valueTitle: string) (categories: string[]) (series: (string * float[])[]) : PlotModel =
    if isNull categories then nullArg "categories"
    if categories.Length = 0 then invalidArg "categories" "is empty: no group to draw"
    if isNull series then nullArg "series"
    if series.Length = 0 then invalidArg "series" "is empty: no bars to draw"
    for (name, values) in series do
        if isNull values then nullArg "series"
        if values.Length <> categories.Length then
            invalidArg "series" $"'{name}' has {values.Length} values for {categories.Length} categories"
        values |> Array.iteri (fun i v ->
            if not (Double.IsFinite v && v >= 0.0) then invalidArg "series" $"'{name}' value {i} = {v} is not a finite value >= 0")
    let model = PlotStyle.model title
    // OxyPlot's BarSeries takes its category axis as the "Y" axis; placing that axis at the bottom and the value
    // axis at the left turns the bars upright.
    let groups = PlotStyle.categoryAxis AxisPosition.Bottom categoryTitle categories
    groups.Key <- "categories"
    model.Axes.Add groups
    let values = PlotStyle.linearAxis AxisPosition.Left valueTitle
    values.Key <- "values"
    values.Minimum <- 0.0
    values.MaximumPadding <- 0.08
    model.Axes.Add values
    series |> Array.iteri (fun k (name, vs) ->
        let bars = BarSeries (Title = name, FillColor = PlotStyle.seriesColor k, StrokeColor = OxyColors.Black, StrokeThickness = 0.5,
                              XAxisKey = "values", YAxisKey = "categories")
        for v in vs do bars.Items.Add (BarItem v)
        model.Series.Add bars)
    PlotStyle.addLegend model
    model

/// Writes the chart of `plot` to `path` (.png or .svg by extension) at `size`, atomically.
let write (path: string) (size: PlotSize) (title: string) (categoryTitle: string) (valueTitle: string)
          (categories: string[]) (series: (string * float[])[]) : unit =
    PlotFile.write path size (plot title categoryTitle valueTitle categories series)
