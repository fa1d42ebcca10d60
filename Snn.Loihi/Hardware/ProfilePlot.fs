/// The SynOps chart of emulated runs: synaptic operations per layer, one bar per threshold setting.
[<RequireQualifiedAccess>]
module Snn.Loihi.ProfilePlot

open System
open OxyPlot
open Snn.Report

/// Threshold mantissas of `network` scaled by `scale` (vth' = round(vth · scale), the TM-SNN task switch without
/// re-quantizing weights), checked against the 18-bit range [0, 262143] of Loihi's threshold mantissa.
let scaledThresholds (network: Network) (scale: float) : int[] =
    if isNull (box network) then nullArg "network"
    if not (Double.IsFinite scale && scale > 0.0) then invalidArg "scale" $"must be a finite number > 0, got {scale}"
    network.Layers
    |> Array.map (fun l ->
        let v = Math.Round (float l.Neurons.Vth * scale)
        if v > 262143.0 then
            invalidArg "scale" $"layer '{l.Name}': vth {l.Neurons.Vth} x {scale} = {v} exceeds the 18-bit threshold mantissa 262143"
        int v)

/// A grouped bar chart of SynOps per layer (categories, in layer order) with one series per profile, labelled
/// "threshold x<scale>"; every profile must come from the same network (same layer names).
let synOps (runs: (float * Profile)[]) : PlotModel =
    if isNull runs then nullArg "runs"
    if runs.Length = 0 then invalidArg "runs" "is empty: no profile to draw"
    let layers = (snd runs.[0]).Layers |> Array.map (fun l -> l.Name)
    for (scale, p) in runs do
        if (p.Layers |> Array.map (fun l -> l.Name)) <> layers then
            invalidArg "runs" $"the profile at threshold x{scale} has layers other than %A{layers}"
    let steps = (snd runs.[0]).Steps
    let series = runs |> Array.map (fun (scale, p) -> $"threshold x{scale:G4}", p.Layers |> Array.map (fun l -> float l.SynOps))
    let model = GroupedBars.plot "SynOps per layer and threshold" "layer" $"synaptic operations over {steps} steps" layers series
    model.Subtitle <- (snd runs.[0]).Chip.Name
    model

/// Writes the chart of `synOps` to `path` (.png or .svg by extension) at `size`, atomically.
let write (path: string) (size: PlotSize) (runs: (float * Profile)[]) : unit = PlotFile.write path size (synOps runs)
