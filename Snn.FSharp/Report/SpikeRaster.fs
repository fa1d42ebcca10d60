/// Spike raster plots: one mark per spike at (time step t, neuron n).
[<RequireQualifiedAccess>]
module Snn.Report.SpikeRaster

open System
open OxyPlot
open OxyPlot.Axes
open OxyPlot.Series
open TorchSharp

/// The spikes of one sample as (t, neuron) pairs with the step count T and neuron count N. `spikes` is time-first:
/// [T; N] for one sample (then `sample` must be 0) or [T; B; ...] for a batch, whose trailing dimensions are
/// flattened into N neurons in row-major order. Any non-zero value counts as a spike.
let events (spikes: torch.Tensor) (sample: int) : (int * int)[] * int * int =
    if isNull (box spikes) then nullArg "spikes"
    let shape = spikes.shape
    if shape.Length < 2 then invalidArg "spikes" $"must be time-first [T; N] or [T; B; ...], got shape %A{shape}"
    if shape |> Array.exists ((=) 0L) then invalidArg "spikes" $"is empty (shape %A{shape})"
    let steps = int shape.[0]
    let one =
        if shape.Length = 2 then
            if sample <> 0 then invalidArg "sample" $"must be 0 for spikes of one sample [T; N], got {sample}"
            spikes
        else
            if sample < 0 || int64 sample >= shape.[1] then
                invalidArg "sample" $"must lie in [0, {shape.[1] - 1L}] for a batch of {shape.[1]}, got {sample}"
            spikes.select(1L, int64 sample).reshape (int64 steps, -1L)
    let neurons = int one.shape.[1]
    let v = PlotStyle.values one
    let marks = [| for t in 0 .. steps - 1 do for n in 0 .. neurons - 1 do if v.[t * neurons + n] <> 0.0 then yield t, n |]
    marks, steps, neurons

/// A raster of `spikes` (see `events` for the layouts): x = time step t (0..T-1), y = neuron index, one square mark
/// per spike. An empty raster (no spike at all) still shows its axes over the full [0, T) x [0, N) range.
let plot (title: string) (spikes: torch.Tensor) (sample: int) : PlotModel =
    let marks, steps, neurons = events spikes sample
    let model = PlotStyle.model title
    model.Subtitle <- $"{marks.Length} spikes, T = {steps} steps, N = {neurons} neurons"
    let x = PlotStyle.linearAxis AxisPosition.Bottom "time step t"
    x.Minimum <- -0.5
    x.Maximum <- float steps - 0.5
    let y = PlotStyle.linearAxis AxisPosition.Left "neuron"
    y.Minimum <- -0.5
    y.Maximum <- float neurons - 0.5
    model.Axes.Add x
    model.Axes.Add y
    // Marks shrink with density so that neighbouring spikes stay distinguishable.
    let size = Math.Clamp (240.0 / float (max steps neurons), 1.5, 4.0)
    let series = ScatterSeries (MarkerType = MarkerType.Square, MarkerSize = size, MarkerFill = OxyColors.Black)
    for (t, n) in marks do series.Points.Add (ScatterPoint (float t, float n))
    model.Series.Add series
    model

/// Writes the raster of `plot` to `path` (.png or .svg by extension) at `size`, atomically.
let write (path: string) (size: PlotSize) (title: string) (spikes: torch.Tensor) (sample: int) : unit =
    PlotFile.write path size (plot title spikes sample)
