/// `snn data`: decodes one file of a neuromorphic dataset. `dump` prints its events or samples as CSV, `frames`
/// integrates one sample into frames and writes them as a `.npy` file.
module Snn.Cli.DataCommand

open System
open System.IO
open Argu
open Snn.Data

/// The file formats `snn data` reads.
type DataFormat =
    | Nmnist
    | Gesture
    | Cifar10dvs
    | Shd
    | Ntidigits
    | Idx

/// How `frames` cuts a fixed number of frames.
type SplitMode =
    | Number
    | Time

/// Options of `snn data dump`.
type DumpArgs =
    | [<Mandatory>] Format of DataFormat
    | [<MainCommand; Mandatory>] Path of path: string
    | Sample of int
    | Test_Split
    | Limit of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Format _ -> "the file format"
            | Path _ -> "the file to decode"
            | Sample _ -> "only this sample of a multi-sample file (SHD, N-TIDIGITS, gesture recording, IDX)"
            | Test_Split -> "N-TIDIGITS: read the test split (default: train)"
            | Limit _ -> "print at most this many rows"

/// Options of `snn data frames`.
type FramesArgs =
    | [<Mandatory>] Format of DataFormat
    | [<MainCommand; Mandatory>] Path of path: string
    | [<Mandatory>] Out of string
    | Sample of int
    | Test_Split
    | Frames of int
    | Split_By of SplitMode
    | Duration_Us of int64
    | Downsample of int
    | Merge_Polarity
    | Denoise_Us of int64
    | Refractory_Us of int64
    | Bin_Us of int64
    | Cache of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Format _ -> "the file format"
            | Path _ -> "the file to decode"
            | Out _ -> "the .npy file to write ([T; 2 or 1; H; W] for cameras, [T; channels] for audio, float32)"
            | Sample _ -> "the sample of a multi-sample file (default 0)"
            | Test_Split -> "N-TIDIGITS: read the test split (default: train)"
            | Frames _ -> "camera: a fixed number of frames (default 10)"
            | Split_By _ -> "camera: split the fixed number of frames by event count or by time (default number)"
            | Duration_Us _ -> "camera: frames of this many microseconds instead of a fixed number"
            | Downsample _ -> "camera: spatial down-sampling factor (default 1)"
            | Merge_Polarity -> "camera: one channel for both polarities"
            | Denoise_Us _ -> "camera: background-activity filter window in microseconds"
            | Refractory_Us _ -> "camera: refractory filter period in microseconds"
            | Bin_Us _ -> "audio: time bin in microseconds (default 1000)"
            | Cache _ -> "reuse the frames integrated earlier with the same file and options from this folder (written on a miss)"

/// Subcommands of `snn data`.
type DataArgs =
    | [<CliPrefix(CliPrefix.None)>] Dump of ParseResults<DumpArgs>
    | [<CliPrefix(CliPrefix.None)>] Frames of ParseResults<FramesArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dump _ -> "print the events or samples of one file as CSV"
            | Frames _ -> "integrate one sample of a file into frames and write them as .npy"

/// What one file decodes to: camera samples (label −1 = none), audio samples with their label text, or an IDX array.
type private Decoded =
    | Camera of (CameraEvents * string)[]
    | Audio of (AudioEvents * string)[]
    | Array of IdxArray

/// The label a folder name gives (N-MNIST digit folders, CIFAR10-DVS class folders), or "".
let private folderLabel (path: string) (names: string[]) =
    let folder = Path.GetFileName (Path.GetDirectoryName (Path.GetFullPath path))
    match Array.tryFindIndex ((=) folder) names with
    | Some k -> string k
    | None -> ""

let private decode (format: DataFormat) (path: string) (testSplit: bool) : Decoded =
    match format with
    | Nmnist -> Camera [| NMnist.read path, folderLabel path [| for d in 0 .. 9 -> string d |] |]
    | Cifar10dvs -> Camera [| Cifar10Dvs.read path, folderLabel path Cifar10Dvs.classNames |]
    | Gesture ->
        let labels = DvsGesture.labelsPathOf path
        if File.Exists labels then
            DvsGesture.readRecording path |> Array.map (fun s -> s.Events, string s.Label) |> Camera
        else Camera [| Aedat3.read DvsGesture.size DvsGesture.size path, "" |]
    | Shd -> Shd.read path |> Array.map (fun s -> s.Events, string s.Label) |> Audio
    | Ntidigits ->
        NTidigits.read path (not testSplit)
        |> Array.map (fun u ->
            let label = if u.Digits.Length = 1 then string u.Digits.[0] else u.Id.Substring (u.Id.LastIndexOf '-' + 1)
            u.Events, label)
        |> Audio
    | Idx -> Array (Idx.read path)

let private pick (items: 'a[]) (sample: int option) : (int * 'a)[] =
    match sample with
    | None -> Array.indexed items
    | Some i when i >= 0 && i < items.Length -> [| i, items.[i] |]
    | Some i -> invalidArg "sample" $"the file holds {items.Length} samples; --sample {i} is out of range"

/// Writes the CSV of `snn data dump` to `out`.
let dump (args: ParseResults<DumpArgs>) (out: TextWriter) : unit =
    let sample = args.TryGetResult DumpArgs.Sample
    let limit = args.GetResult (DumpArgs.Limit, Int32.MaxValue)
    let mutable rows = 0
    let row (text: string) = if rows < limit then out.WriteLine text; rows <- rows + 1
    match decode (args.GetResult DumpArgs.Format) (args.GetResult DumpArgs.Path) (args.Contains DumpArgs.Test_Split) with
    | Camera samples ->
        let labelled = samples |> Array.exists (fun (_, l) -> l <> "")
        let several = samples.Length > 1 && sample.IsNone
        out.WriteLine ((if several then "sample," else "") + "x,y,t,p" + (if labelled then ",label" else ""))
        for i, (e, label) in pick samples sample do
            for k in 0 .. e.Count - 1 do
                row ((if several then $"{i}," else "") + $"{e.X.[k]},{e.Y.[k]},{e.T.[k]},{(if e.P.[k] then 1 else 0)}" + (if labelled then "," + label else ""))
    | Audio samples ->
        let several = sample.IsNone
        out.WriteLine ((if several then "sample," else "") + "channel,t,label")
        for i, (e, label) in pick samples sample do
            for k in 0 .. e.Count - 1 do
                row ((if several then $"{i}," else "") + $"{e.Channel.[k]},{e.T.[k]},{label}")
    | Array a ->
        if a.Shape.Length = 1 then
            out.WriteLine "label"
            for i, _ in pick (Array.init a.Count id) sample do row (string a.[i])
        else
            let per = a.Count / max 1 a.Shape.[0]
            out.WriteLine ("index," + String.Join (",", [| for k in 0 .. per - 1 -> $"v{k}" |]))
            for i, _ in pick (Array.init a.Shape.[0] id) sample do
                row ($"{i}," + String.Join (",", [| for k in 0 .. per - 1 -> string a.[i * per + k] |]))

/// Integrates the chosen sample as `snn data frames` asks and returns the frames.
let frames (args: ParseResults<FramesArgs>) : FrameStack =
    let sample = Some (args.GetResult (FramesArgs.Sample, 0))
    let camera (e: CameraEvents) =
        let mutable e = e
        args.TryGetResult Refractory_Us |> Option.iter (fun r -> e <- Frames.refractory r e)
        args.TryGetResult Denoise_Us |> Option.iter (fun w -> e <- Frames.denoise w e)
        e <- Frames.downsample (args.GetResult (Downsample, 1)) e
        let polarity = if args.Contains Merge_Polarity then Merged else Split
        match args.TryGetResult Duration_Us with
        | Some d -> Frames.fixedDuration d polarity e
        | None ->
            let split = match args.GetResult (Split_By, Number) with Number -> ByCount | Time -> ByTime
            Frames.fixedCount (args.GetResult (FramesArgs.Frames, 10)) split polarity e
    match decode (args.GetResult FramesArgs.Format) (args.GetResult FramesArgs.Path) (args.Contains FramesArgs.Test_Split) with
    | Camera samples -> camera (fst (snd (pick samples sample).[0]))
    | Audio samples ->
        let e = fst (snd (pick samples sample).[0])
        let bin = args.GetResult (Bin_Us, 1000L)
        if bin <= 0L then invalidArg "--bin-us" $"must be > 0, got {bin}"
        Frames.audioBins bin (args.GetResult (FramesArgs.Frames, Frames.audioBinCount bin e)) e
    | Array a ->
        // An image file: record image i with the DVS emulator along N-MNIST's saccades, then integrate.
        if a.TypeCode <> 0x08uy || a.Shape.Length <> 3 then
            invalidArg "path" "frames of an IDX file need images (unsigned bytes, [N; rows; columns])"
        let h, w = a.Shape.[1], a.Shape.[2]
        let i = fst (pick (Array.init a.Shape.[0] id) sample).[0]
        camera (DvsEmulator.saccades DvsEmulator.Settings.Default w h a.Data.[i * w * h .. (i + 1) * w * h - 1])

/// Runs parsed `snn data` arguments, writing CSV and messages to `out`; returns the process exit code.
let runWith (args: ParseResults<DataArgs>) (out: TextWriter) : int =
    CliErrors.guard (fun () ->
        match args.GetSubCommand () with
        | Dump d ->
            dump d out
            0
        | Frames f ->
            let stack, origin =
                match f.TryGetResult Cache with
                | None -> frames f, ""
                | Some folder ->
                    // The key holds the source file (path, size, time stamp) and every option that shapes the frames.
                    let options =
                        f.GetAllResults ()
                        |> List.filter (function Out _ | Cache _ | FramesArgs.Path _ -> false | _ -> true)
                        |> List.map (sprintf "%A")
                        |> List.sort
                    let key = FrameCache.key "snn data frames" (f.GetResult FramesArgs.Path) (String.Join (" ", options))
                    let hit = File.Exists (FrameCache.pathOf folder key)
                    FrameCache.getOrCreate folder key (fun () -> frames f), (if hit then " from the cache" else ", cached")
            let path = f.GetResult Out
            Npy.write path "<f4" stack.Shape (stack.Data |> Array.map float)
            let shape = String.Join ("; ", stack.Shape)
            out.WriteLine $"{path}: frames [{shape}] (float32){origin}"
            0)

/// Runs `snn data`; returns the process exit code.
let run (args: ParseResults<DataArgs>) : int =
    use out = new StreamWriter (Console.OpenStandardOutput ())
    runWith args out

/// Parses and runs `snn data` arguments (everything after `data`), writing to `out`: the entry point for tests and
/// scripts that do not reference Argu.
let execute (argv: string[]) (out: TextWriter) : int =
    CliErrors.guard (fun () -> runWith (ArgumentParser.Create<DataArgs>(programName = "snn data").ParseCommandLine argv) out)
