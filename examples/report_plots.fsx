// Plots of one moving-patterns batch: a spike raster of the input events and a firing-rate map of the two
// polarity channels, written as PNG and SVG to a temporary folder and checked to be images of the stated size.
// Run after building: dotnet fsi examples/report_plots.fsx [output folder]
#load "shared/references.fsx"

open System
open System.Buffers.Binary
open System.IO
open TorchSharp
open Snn.Data
open Snn.Report

let settings = MovingPatterns.Settings.Default
let frames = 20
let batch = MovingPatterns.frameSet settings frames 7 0 4
// Frames are [N; T; 2·Size·Size] event counts; reports take time-first spikes [T; B; ...].
let spikes = batch.Frames.transpose(0L, 1L).gt (torch.tensor 0.0f)
let folder =
    match fsi.CommandLineArgs |> Array.tail with
    | [| dir |] -> dir
    | _ -> Path.Combine (Path.GetTempPath (), $"snn-report-example-{Guid.NewGuid ():N}")
Directory.CreateDirectory folder |> ignore
let size = { Width = 800; Height = 500 }
let label = MovingPatterns.classNames.[int (batch.Labels.[0L].ToInt64 ())]
let raster = Path.Combine (folder, "raster.png")
SpikeRaster.write raster size $"Input events of one '{label}' sample" spikes 0
let rates = ActivationMap.firingRates (spikes.reshape (int64 frames, 4L, 2L, int64 settings.Size, int64 settings.Size))
let map = Path.Combine (folder, "rates.png")
ActivationMap.write map size "Input event rate per pixel (OFF | ON)" rates
ActivationMap.write (Path.ChangeExtension (map, ".svg")) size "Input event rate per pixel (OFF | ON)" rates

for png in [ raster; map ] do
    let bytes = File.ReadAllBytes png
    let width = BinaryPrimitives.ReadInt32BigEndian (ReadOnlySpan (bytes, 16, 4))
    let height = BinaryPrimitives.ReadInt32BigEndian (ReadOnlySpan (bytes, 20, 4))
    if bytes.[1..3] <> "PNG"B || (width, height) <> (size.Width, size.Height) then
        failwithf "%s is not a %dx%d PNG (got %dx%d)" png size.Width size.Height width height
    printfn "wrote %s (%d x %d, %d bytes)" png width height bytes.Length
if fsi.CommandLineArgs.Length = 1 then Directory.Delete (folder, true)
