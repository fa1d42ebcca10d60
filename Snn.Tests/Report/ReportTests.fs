/// Reports: PNG/SVG plots checked as files a viewer can open (PNG structure, size and content; SVG as XML),
/// TensorBoard event files read back record by record, run folders, and the `snn` options that write them.
module Snn.Tests.ReportTests

open System
open System.Buffers.Binary
open System.IO
open System.IO.Compression
open System.Text
open System.Xml
open System.Xml.Linq
open Expecto
open TorchSharp
open Snn
open Snn.Report
open Snn.Tests.Assertions

/// A fresh temporary folder, deleted with everything in it after `body`.
// ---- PNG: signature, chunk CRCs, IHDR size, IDAT inflates to exactly the scanlines the header promises ----

let private crc32Table =
    Array.init 256 (fun n ->
        let mutable c = uint32 n
        for _ in 0 .. 7 do c <- if c &&& 1u <> 0u then 0xEDB88320u ^^^ (c >>> 1) else c >>> 1
        c)

let private crc32 (data: ReadOnlySpan<byte>) =
    let mutable c = 0xFFFFFFFFu
    for b in data do c <- crc32Table.[int ((c ^^^ uint32 b) &&& 0xFFu)] ^^^ (c >>> 8)
    c ^^^ 0xFFFFFFFFu

/// Checks the PNG structure of `path`; returns (width, height).
let private checkPng (path: string) : int * int =
    let bytes = File.ReadAllBytes path
    Expect.sequenceEqual bytes.[0..7] [| 137uy; 80uy; 78uy; 71uy; 13uy; 10uy; 26uy; 10uy |] $"{path}: PNG signature"
    let mutable offset = 8
    let mutable header = None
    let idat = new MemoryStream ()
    let mutable ended = false
    while not ended do
        let length = int (BinaryPrimitives.ReadUInt32BigEndian (ReadOnlySpan (bytes, offset, 4)))
        let kind = Encoding.ASCII.GetString (bytes, offset + 4, 4)
        let stored = BinaryPrimitives.ReadUInt32BigEndian (ReadOnlySpan (bytes, offset + 8 + length, 4))
        Expect.equal (crc32 (ReadOnlySpan (bytes, offset + 4, 4 + length))) stored $"{path}: CRC of chunk {kind} at byte {offset}"
        let data = ReadOnlySpan (bytes, offset + 8, length)
        match kind with
        | "IHDR" ->
            header <- Some (int (BinaryPrimitives.ReadUInt32BigEndian (data.Slice (0, 4))),
                            int (BinaryPrimitives.ReadUInt32BigEndian (data.Slice (4, 4))), data.[8], data.[9])
        | "IDAT" -> idat.Write data
        | "IEND" -> ended <- true
        | _ -> ()
        offset <- offset + 12 + length
    let width, height, depth, colour = header |> Option.defaultWith (fun () -> failtestf "%s: no IHDR chunk" path)
    Expect.equal depth 8uy "8 bits per channel"
    let channels = match colour with 6uy -> 4 | 2uy -> 3 | 0uy -> 1 | 4uy -> 2 | c -> failtestf "colour type %d" c
    idat.Position <- 0L
    use inflate = new ZLibStream (idat, CompressionMode.Decompress)
    use raw = new MemoryStream ()
    inflate.CopyTo raw
    Expect.equal raw.Length (int64 height * int64 (1 + width * channels)) $"{path}: IDAT inflates to one filter byte and {width} pixels per row"
    width, height

/// Decodes `path` with SkiaSharp: (width, height, pixels that are not (near) white).
let private decode (path: string) =
    use bitmap = SkiaSharp.SKBitmap.Decode path
    if isNull bitmap then failtestf "%s: SkiaSharp cannot decode it" path
    let mutable inked = 0
    for y in 0 .. bitmap.Height - 1 do
        for x in 0 .. bitmap.Width - 1 do
            let c = bitmap.GetPixel (x, y)
            if int c.Red + int c.Green + int c.Blue < 3 * 230 && c.Alpha > 200uy then inked <- inked + 1
    bitmap.Width, bitmap.Height, inked

/// Checks a PNG of `size` that shows something (more than axes and text: at least `minimumInk` dark pixels).
let private expectPng (path: string) (size: PlotSize) (minimumInk: int) =
    Expect.equal (checkPng path) (size.Width, size.Height) $"{path}: IHDR size"
    let w, h, ink = decode path
    Expect.equal (w, h) (size.Width, size.Height) $"{path}: decoded size"
    Expect.isGreaterThan ink minimumInk $"{path}: drawn pixels"

/// Parses `path` as an SVG document; returns every text in it.
let private svgTexts (path: string) (size: PlotSize) =
    let settings = XmlReaderSettings (DtdProcessing = DtdProcessing.Ignore)
    use reader = XmlReader.Create (path, settings)
    let doc = XDocument.Load reader
    let svg = XNamespace.Get "http://www.w3.org/2000/svg"
    Expect.equal doc.Root.Name (svg + "svg") "root element"
    Expect.equal (float (doc.Root.Attribute(XName.Get "width").Value)) (float size.Width) "svg width"
    Expect.equal (float (doc.Root.Attribute(XName.Get "height").Value)) (float size.Height) "svg height"
    doc.Descendants (svg + "text") |> Seq.map (fun t -> t.Value) |> Seq.toList

let private noTemporaryFiles (folder: string) =
    let left = Directory.GetFileSystemEntries (folder, "*", SearchOption.AllDirectories) |> Array.filter (fun p -> p.EndsWith ".tmp" || p.Contains ".staging-")
    Expect.isEmpty left "no temporary file or folder is left behind"

// ---- TensorBoard: TFRecord framing and the Event / Summary protobuf ----

let private crc32cTable =
    Array.init 256 (fun n ->
        let mutable c = uint32 n
        for _ in 0 .. 7 do c <- if c &&& 1u <> 0u then 0x82F63B78u ^^^ (c >>> 1) else c >>> 1
        c)

/// TFRecord's masked CRC-32C: rotate right by 15 bits, add 0xa282ead8.
let private maskedCrc32c (data: ReadOnlySpan<byte>) =
    let mutable c = 0xFFFFFFFFu
    for b in data do c <- crc32cTable.[int ((c ^^^ uint32 b) &&& 0xFFu)] ^^^ (c >>> 8)
    let crc = c ^^^ 0xFFFFFFFFu
    ((crc >>> 15) ||| (crc <<< 17)) + 0xa282ead8u

/// The records of a TFRecord file, every length and payload CRC checked.
let private tfRecords (path: string) : byte[] list =
    let bytes = File.ReadAllBytes path
    let mutable offset = 0
    [ while offset < bytes.Length do
        if offset + 12 > bytes.Length then failtestf "%s: truncated record header at byte %d" path offset
        let length = BinaryPrimitives.ReadUInt64LittleEndian (ReadOnlySpan (bytes, offset, 8))
        let lengthCrc = BinaryPrimitives.ReadUInt32LittleEndian (ReadOnlySpan (bytes, offset + 8, 4))
        Expect.equal (maskedCrc32c (ReadOnlySpan (bytes, offset, 8))) lengthCrc $"{path}: length CRC at byte {offset}"
        let n = int length
        if offset + 16 + n > bytes.Length then failtestf "%s: truncated record payload at byte %d" path offset
        let payload = bytes.[offset + 12 .. offset + 12 + n - 1]
        let dataCrc = BinaryPrimitives.ReadUInt32LittleEndian (ReadOnlySpan (bytes, offset + 12 + n, 4))
        Expect.equal (maskedCrc32c (ReadOnlySpan payload)) dataCrc $"{path}: payload CRC at byte {offset}"
        yield payload
        offset <- offset + 16 + n ]

/// A protobuf field value: varint, 64-bit, length-delimited bytes or 32-bit.
type private Field =
    | Varint of uint64
    | Fixed64 of uint64
    | Bytes of byte[]
    | Fixed32 of uint32

/// The (field number, value) pairs of one protobuf message.
let private protoFields (message: byte[]) : (int * Field) list =
    let mutable i = 0
    let varint () =
        let mutable result = 0UL
        let mutable shift = 0
        let mutable more = true
        while more do
            let b = message.[i]
            i <- i + 1
            result <- result ||| (uint64 (b &&& 0x7Fuy) <<< shift)
            shift <- shift + 7
            more <- b &&& 0x80uy <> 0uy
        result
    [ while i < message.Length do
        let key = varint ()
        let number = int (key >>> 3)
        match int (key &&& 7UL) with
        | 0 -> yield number, Varint (varint ())
        | 1 ->
            yield number, Fixed64 (BinaryPrimitives.ReadUInt64LittleEndian (ReadOnlySpan (message, i, 8)))
            i <- i + 8
        | 2 ->
            let n = int (varint ())
            yield number, Bytes message.[i .. i + n - 1]
            i <- i + n
        | 5 ->
            yield number, Fixed32 (BinaryPrimitives.ReadUInt32LittleEndian (ReadOnlySpan (message, i, 4)))
            i <- i + 4
        | w -> failtestf "wire type %d at byte %d" w i ]

/// One decoded Event: wall time (s), step, file_version, and the summary's (tag, simple_value) pairs.
type private Event = { WallTime: float; Step: int64; FileVersion: string option; Values: (string * float32) list }

let private decodeEvent (payload: byte[]) : Event =
    let fields = protoFields payload
    let values =
        [ for (n, f) in fields do
            match n, f with
            | 5, Bytes summary ->
                for (m, v) in protoFields summary do
                    match m, v with
                    | 1, Bytes value ->
                        let vf = protoFields value
                        let tag = vf |> List.pick (function 1, Bytes b -> Some (Encoding.UTF8.GetString b) | _ -> None)
                        let simple = vf |> List.pick (function 2, Fixed32 b -> Some (BitConverter.UInt32BitsToSingle b) | _ -> None)
                        yield tag, simple
                    | _ -> ()
            | _ -> () ]
    { WallTime = fields |> List.tryPick (function 1, Fixed64 b -> Some (BitConverter.UInt64BitsToDouble b) | _ -> None) |> Option.defaultValue 0.0
      Step = fields |> List.tryPick (function 2, Varint v -> Some (int64 v) | _ -> None) |> Option.defaultValue 0L
      FileVersion = fields |> List.tryPick (function 3, Bytes b -> Some (Encoding.UTF8.GetString b) | _ -> None)
      Values = values }

// ---- Fixtures ----

let private entries =
    [| for e in 1 .. 4 ->
         ({ Epoch = e; LearningRate = 1e-3 * float e; TrainLoss = 2.0 / float e
            TrainAccuracy = 0.2 * float e; TestAccuracy = 0.15 * float e + 0.01; GradientNorm = 0.5 + float e
            Seconds = 1.25 * float e; BatchesPerTask = [| 3 |]; Measures = [||] } : Training.HistoryEntry) |]

let private history : Training.History = { Entries = entries; BestEpoch = 4; StoppedEarly = false; HyperSteps = [||] }

/// Spikes [T; B; N] with a known pattern: neuron n of sample b fires at steps where (t + n + b) % 3 = 0.
let private spikes (t: int) (b: int) (n: int) =
    let data = Array.init (t * b * n) (fun i -> let ti, bi, ni = i / (b * n), i / n % b, i % n in if (ti + ni + bi) % 3 = 0 then 1.0f else 0.0f)
    torch.tensor(data).reshape (int64 t, int64 b, int64 n)

let private confusion = array2D [ [ 5; 1; 0 ]; [ 2; 7; 1 ]; [ 0; 0; 9 ] ]

let private size = { Width = 640; Height = 420 }

let tests =
    testList "Report" [
        test "a spike raster PNG is a valid image of the stated size with the spikes drawn; the SVG carries the title" {
            inTemporaryFolder (fun folder ->
                use s = spikes 30 2 40
                let png = Path.Combine (folder, "raster.png")
                SpikeRaster.write png size "Raster of a test pattern" s 1
                expectPng png size 2000
                let svg = Path.Combine (folder, "raster.svg")
                SpikeRaster.write svg size "Raster of a test pattern" s 1
                let texts = svgTexts svg size
                Expect.contains texts "Raster of a test pattern" "the title is a text of the SVG"
                Expect.contains texts "time step t" "the x axis is labelled"
                noTemporaryFiles folder)
        }

        test "raster events: [T; N] and one sample of [T; B; N] give the spikes' (t, n) pairs" {
            use s = spikes 4 2 3
            let marks, steps, neurons = SpikeRaster.events s 1
            Expect.equal (steps, neurons) (4, 3) "T and N"
            let expected = [| for t in 0 .. 3 do for n in 0 .. 2 do if (t + n + 1) % 3 = 0 then yield t, n |]
            Expect.equal marks expected "spikes of sample 1"
            use one = s.select (1L, 0L)
            let marks0, _, _ = SpikeRaster.events one 0
            Expect.equal marks0 [| for t in 0 .. 3 do for n in 0 .. 2 do if (t + n) % 3 = 0 then yield t, n |] "spikes of a [T; N] tensor"
        }

        test "a confusion matrix PNG has the stated size, and its SVG shows the class names and every count" {
            inTemporaryFolder (fun folder ->
                let names = [| "left"; "right"; "up" |]
                let png = Path.Combine (folder, "confusion.png")
                ConfusionPlot.write png size "Confusion on test" confusion (Some names)
                expectPng png size 5000
                let svg = Path.Combine (folder, "confusion.svg")
                ConfusionPlot.write svg size "Confusion on test" confusion (Some names)
                let texts = svgTexts svg size
                for t in [ "Confusion on test"; "left"; "right"; "up"; "predicted class"; "true class"; "7"; "9" ] do
                    Expect.contains texts t $"the SVG shows '{t}'")
        }

        test "training curves PNG and SVG from a history: loss and accuracy axes, three series" {
            inTemporaryFolder (fun folder ->
                let png = Path.Combine (folder, "curves.png")
                TrainingCurves.write png size "Curves" entries
                expectPng png size 1500
                let svg = Path.Combine (folder, "curves.svg")
                TrainingCurves.write svg size "Curves" entries
                let texts = svgTexts svg size
                for t in [ "Curves"; "epoch"; "training loss"; "accuracy (%)"; "test accuracy"; "training accuracy" ] do
                    Expect.contains texts t $"the SVG shows '{t}'")
        }

        test "activation maps: [N], [H; W] and [C; H; W] rates become images; firing rates average over T and B" {
            use s = spikes 6 2 12
            use rates = ActivationMap.firingRates s
            Expect.equal rates.shape [| 12L |] "one rate per neuron"
            let expected = Array.init 12 (fun n -> float (Seq.length (seq { for t in 0 .. 5 do for b in 0 .. 1 do if (t + n + b) % 3 = 0 then yield () })) / 12.0)
            allClose 1e-6 expected (values rates) "mean over T and B"
            let grid, w, h = ActivationMap.image rates
            Expect.equal (w, h) (4, 3) "12 neurons in a 4 x 3 grid"
            Expect.floatClose Accuracy.high grid.[1, 2] expected.[9] "neuron 9 sits at column 1, row 2"
            use chw = torch.arange(0.0f, 2.0f * 3.0f * 4.0f, 1.0f).reshape (2L, 3L, 4L)
            let tiles, tw, th = ActivationMap.image chw
            Expect.equal (tw, th) (2 * 5 - 1, 3) "two 4-wide channel tiles with a gap column, one row of tiles"
            Expect.equal tiles.[5, 1] 16.0 "channel 1, row 1, column 0: element (1·3 + 1)·4 + 0"
            Expect.isTrue (Double.IsNaN tiles.[4, 0]) "the gap between tiles is empty"
            inTemporaryFolder (fun folder ->
                let png = Path.Combine (folder, "map.png")
                ActivationMap.write png size "Hidden rates" chw
                expectPng png size 20000
                let svg = Path.Combine (folder, "map.svg")
                ActivationMap.write svg size "Hidden rates" chw
                Expect.contains (svgTexts svg size) "Hidden rates" "title")
        }

        test "grouped bars (SynOps per layer and threshold) PNG and SVG name layers and series" {
            inTemporaryFolder (fun folder ->
                let series = [| "threshold x1", [| 1200.0; 800.0; 90.0 |]; "threshold x2", [| 600.0; 300.0; 20.0 |] |]
                let png = Path.Combine (folder, "bars.png")
                GroupedBars.write png size "SynOps" "layer" "SynOps" [| "conv1"; "fc1"; "fc2" |] series
                expectPng png size 5000
                let svg = Path.Combine (folder, "bars.svg")
                GroupedBars.write svg size "SynOps" "layer" "SynOps" [| "conv1"; "fc1"; "fc2" |] series
                let texts = svgTexts svg size
                for t in [ "SynOps"; "conv1"; "fc2"; "threshold x1"; "threshold x2" ] do Expect.contains texts t $"'{t}'")
        }

        test "bad input is refused with the parameter named, and no file is written" {
            inTemporaryFolder (fun folder ->
                let png = Path.Combine (folder, "x.png")
                let param (name: string) (f: unit -> unit) =
                    let e = Expect.throwsC f id
                    match e with
                    | :? ArgumentException as a -> Expect.equal a.ParamName name $"names '{name}': {a.Message}"
                    | other -> failtestf "expected an ArgumentException naming %s, got %O" name other
                use empty = torch.zeros (0L, 4L)
                param "spikes" (fun () -> SpikeRaster.write png size "t" empty 0)
                use s = spikes 3 2 4
                param "sample" (fun () -> SpikeRaster.write png size "t" s 2)
                param "classNames" (fun () -> ConfusionPlot.write png size "t" confusion (Some [| "a"; "b" |]))
                param "confusion" (fun () -> ConfusionPlot.write png size "t" (Array2D.zeroCreate 2 3) None)
                param "confusion" (fun () -> ConfusionPlot.write png size "t" (Array2D.zeroCreate 0 0) None)
                param "entries" (fun () -> TrainingCurves.write png size "t" [||])
                param "series" (fun () -> GroupedBars.write png size "t" "x" "y" [| "a"; "b" |] [| "s", [| 1.0 |] |])
                param "categories" (fun () -> GroupedBars.write png size "t" "x" "y" [||] [| "s", [||] |])
                use negative = torch.tensor([| 0.5f; -0.1f |])
                param "rates" (fun () -> ActivationMap.write png size "t" negative)
                param "title" (fun () -> TrainingCurves.write png size " " entries)
                param "size" (fun () -> TrainingCurves.write png { Width = 8; Height = 400 } "t" entries)
                param "path" (fun () -> TrainingCurves.write (Path.Combine (folder, "x.jpg")) size "t" entries)
                Expect.isEmpty (Directory.GetFileSystemEntries folder) "nothing was written")
        }

        test "rewriting a plot replaces it atomically: the new file is complete and no temporary file is left" {
            inTemporaryFolder (fun folder ->
                let png = Path.Combine (folder, "curves.png")
                TrainingCurves.write png size "Curves" entries
                let first = File.ReadAllBytes png
                TrainingCurves.write png { Width = 300; Height = 200 } "Curves" entries.[0..1]
                Expect.equal (checkPng png) (300, 200) "the second write replaced the first"
                Expect.notEqual (File.ReadAllBytes png) first "the content changed"
                Expect.sequenceEqual (Directory.GetFiles folder |> Array.map Path.GetFileName) [| "curves.png" |] "only the target exists")
        }

        test "TensorBoard: the event file reads back record by record with every tag, step and value" {
            inTemporaryFolder (fun folder ->
                let before = float (DateTimeOffset.UtcNow.ToUnixTimeSeconds ()) - 1.0
                let path = TensorBoard.writeHistory folder entries
                Expect.stringContains (Path.GetFileName path) "events.out.tfevents." "TensorBoard's file name"
                let events = tfRecords path |> List.map decodeEvent
                Expect.equal events.Head.FileVersion (Some "brain.Event:2") "the first record names the format version"
                let scalars = events.Tail
                Expect.equal scalars.Length (entries.Length * TensorBoard.scalars.Length) "one event per epoch and tag"
                for e in entries do
                    for (tag, value) in TensorBoard.scalars do
                        let found = scalars |> List.filter (fun ev -> ev.Step = int64 e.Epoch && ev.Values |> List.exists (fun (t, _) -> t = tag))
                        Expect.equal found.Length 1 $"one {tag} event at step {e.Epoch}"
                        let _, v = found.Head.Values.Head
                        Expect.equal v (float32 (value e)) $"{tag} at step {e.Epoch}"
                        Expect.isGreaterThanOrEqual found.Head.WallTime (before - 60.0) "wall time in Unix seconds"
                let walls = scalars |> List.map (fun ev -> ev.WallTime)
                Expect.equal walls (List.sort walls) "wall times do not decrease"
                // Writing again replaces the earlier file instead of adding a second run.
                let again = TensorBoard.writeHistory folder entries.[0..1]
                Expect.sequenceEqual (Directory.GetFiles folder) [| again |] "one event file"
                Expect.equal ((tfRecords again).Length) (1 + 2 * TensorBoard.scalars.Length) "the new history"
                noTemporaryFiles folder)
        }

        test "run folder: history.json, TensorBoard events and every plot, returned in order" {
            inTemporaryFolder (fun folder ->
                use s = spikes 10 3 20
                use hidden = spikes 10 3 16
                let report =
                    { RunReport.OfHistory history with
                        Confusion = Some confusion
                        ClassNames = Some [| "a"; "b"; "c" |]
                        SpikeSamples = [ "input layer", s ]
                        Activations = [ "hidden", hidden ]
                        PlotSize = size }
                let dir = Path.Combine (folder, "run")
                let written = RunFolder.write dir report
                let names = written |> List.map (fun p -> Path.GetRelativePath (dir, p))
                Expect.equal names.[0] "history.json" "history first"
                Expect.stringStarts names.[1] "tensorboard" "TensorBoard events in a subfolder"
                Expect.equal names.[2..] [ "curves.png"; "confusion.png"; "raster-input_layer.png"; "activation-hidden.png" ] "plots"
                for p in written do Expect.isTrue (File.Exists p) $"{p} exists"
                for p in written |> List.filter (fun p -> p.EndsWith ".png") do expectPng p size 500
                let back = Training.HistoryJson.deserialize (File.ReadAllText written.[0])
                Expect.equal back entries "history.json round-trips"
                Expect.equal ((tfRecords written.[1]).Length) (1 + entries.Length * TensorBoard.scalars.Length) "events"
                noTemporaryFiles folder
                let bad = { report with ClassNames = Some [| "a" |] }
                let name =
                    try RunFolder.write (Path.Combine (folder, "bad")) bad |> ignore; None
                    with :? ArgumentException as e -> Some e.ParamName
                Expect.equal name (Some "classNames") "mismatched class names are named"
                Expect.isFalse (Directory.Exists (Path.Combine (folder, "bad"))) "inputs are checked before anything is written")
        }

        test "snn train --out writes the run folder: config, log, history, TensorBoard events, checkpoint and valid PNGs" {
            inTemporaryFolder (fun folder ->
                let dir = Path.Combine (folder, "run")
                let code, out, err =
                    runSnn [ "train"; "--epochs"; "2"; "--train-samples"; "48"; "--test-samples"; "24"; "--frames"; "6"
                             "--hidden"; "16"; "--batch-size"; "16"; "--threads"; "1"; "--out"; dir ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.stringContains out "report:" "the report is announced"
                for name in [ "curves.png"; "confusion.png"; "raster-input.png"; "raster-hidden.png"; "raster-output.png"
                              "activation-input.png"; "activation-hidden.png"; "activation-output.png" ] do
                    Expect.equal (checkPng (Path.Combine (dir, name))) (PlotSize.Default.Width, PlotSize.Default.Height) name
                let back = Training.HistoryJson.deserialize (File.ReadAllText (Path.Combine (dir, "history.json")))
                Expect.equal (back |> Array.map (fun e -> e.Epoch)) [| 1; 2 |] "two epochs"
                for e in back do
                    Expect.isGreaterThan e.GradientNorm 0.0 "a measured gradient norm"
                    Expect.equal e.LearningRate 5e-3 "Adam's constant rate"
                    Expect.isGreaterThan e.Seconds 0.0 "the epoch's own seconds"
                let events = Directory.GetFiles (Path.Combine (dir, "tensorboard")) |> Array.exactlyOne
                Expect.equal ((tfRecords events).Length) (1 + 2 * TensorBoard.scalars.Length) "TensorBoard events"
                // The run folder: the resolved configuration (read back as a configuration), the log, the checkpoint.
                let resolved = Config.load (Path.Combine (dir, "config.yaml"))
                Expect.equal resolved.["epochs"].Value (ConfigValue.Integer 2L) "the flag's value in config.yaml"
                Expect.equal resolved.["checkpoint.dir"].Value (ConfigValue.Text (Path.Combine (dir, "checkpoint"))) "the checkpoint inside the run folder"
                Expect.isTrue (Training.Checkpoint.exists (Path.Combine (dir, "checkpoint"))) "a complete checkpoint"
                let log = File.ReadAllText (Path.Combine (dir, "log.txt"))
                Expect.stringContains log "test accuracy:" "the log keeps what was printed"
                // Redirected output: plain progress lines, 48 samples in batches of 16 = 3 batches, one line each.
                Expect.stringContains out "epoch   2: 3/3 batches" "plain progress lines"
                Expect.stringContains out "batches/s, ETA" "with rate and ETA"
                // One JSON naming style: snake_case.
                let json = File.ReadAllText (Path.Combine (dir, "history.json"))
                Expect.stringContains json "\"train_loss\"" "snake_case names"
                Expect.isFalse (json.Contains "TrainLoss") "no PascalCase")
        }
        test "history.json written before the snake_case names (PascalCase) still reads" {
            let older = "[{\"Epoch\": 1, \"LearningRate\": 0.5, \"TrainLoss\": 2.0, \"TrainAccuracy\": 0.25, \"TestAccuracy\": \"NaN\", \"GradientNorm\": 1.5, \"Seconds\": 3.0}]"
            let back = Training.HistoryJson.deserialize older
            Expect.equal back.[0].TrainLoss 2.0 "TrainLoss read"
            Expect.equal back.[0].LearningRate 0.5 "LearningRate read"
            Expect.isTrue (Double.IsNaN back.[0].TestAccuracy) "NaN kept"
            Expect.equal back.[0].Measures [||] "fields it did not have are empty"
            let again = (Training.HistoryJson.deserialize (Training.HistoryJson.serialize back)).[0]
            Expect.equal (again.Epoch, again.TrainLoss, again.GradientNorm) (1, 2.0, 1.5) "and round-trips in the new form"
            Expect.isTrue (Double.IsNaN again.TestAccuracy) "NaN too"
        }

        test "snn train --dataset event-fashion-mnist trains on IDX files through the DVS emulator" {
            inTemporaryFolder (fun folder ->
                // Four bright vertical bars (label 1) and four horizontal ones (label 0) in every split.
                let image (label: int) = Array.init (28 * 28) (fun i -> let r, c = i / 28, i % 28 in if (if label = 1 then c else r) % 7 < 3 then 230uy else 0uy)
                let labels = [| for i in 0 .. 7 -> byte (i % 2) |]
                for prefix in [ "train"; "t10k" ] do
                    File.WriteAllBytes (Path.Combine (folder, $"{prefix}-images-idx3-ubyte"), DataFormatWriters.idxBytes [ 8; 28; 28 ] (labels |> Array.collect (int >> image)))
                    File.WriteAllBytes (Path.Combine (folder, $"{prefix}-labels-idx1-ubyte"), DataFormatWriters.idxBytes [ 8 ] labels)
                let dir = Path.Combine (folder, "run")
                let code, out, err =
                    runSnn [ "train"; "--dataset"; "event-fashion-mnist"; "--data"; folder; "--epochs"; "1"; "--train-samples"; "8"
                             "--test-samples"; "8"; "--frames"; "4"; "--hidden"; "8"; "--batch-size"; "4"; "--threads"; "1"; "--out"; dir ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.stringContains out "event Fashion-MNIST: 8 train / 8 test samples, 10 classes, T = 4, 34x34 pixels" "the converted set is described"
                Expect.stringContains out "test accuracy:" "a test accuracy"
                Expect.isTrue (File.Exists (Path.Combine (dir, "confusion.png"))) "the report uses the Fashion-MNIST class names and sensor size"
                let missing = Path.Combine (folder, "missing")
                let code, _, err = runSnn [ "train"; "--dataset"; "event-fashion-mnist"; "--data"; missing; "--epochs"; "1"; "--out"; Path.Combine (folder, "failed-run") ]
                Expect.equal code 2 "a missing folder is an error"
                Expect.stringContains err (Path.Combine (missing, "train-images-idx3-ubyte")) "the missing file is named")
        }

        test "snn loihi profile --png --threshold-scales writes the SynOps chart of every threshold scale" {
            inTemporaryFolder (fun folder ->
                let png = Path.Combine (folder, "synops.png")
                let code, out, err =
                    runSnn [ "loihi"; "profile"; fixture "lava-netx/tiny.net"; "--steps"; "20"; "--threshold-scales"; "1,2,4"; "--png"; png ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                for s in [ "1"; "2"; "4" ] do Expect.stringContains out $"threshold scale {s}:" $"a profile at scale {s}"
                expectPng png PlotSize.Default 3000
                let code2, _, err2 = runSnn [ "loihi"; "profile"; fixture "lava-netx/tiny.net"; "--threshold-scales"; "1,-2" ]
                Expect.notEqual code2 0 "a negative scale is refused"
                Expect.stringContains err2 "threshold-scales" "the option is named")
        }
    ]
