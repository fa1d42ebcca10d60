/// `snn loihi import|export|run|profile|validate`: NetX and NIR files, the bit-accurate emulator and its profile.
module Snn.Cli.LoihiCommand

open System
open System.IO
open Argu
open Snn.Data
open Snn.Loihi

// Each subcommand has its own options, so `snn loihi <sub> --help` lists only what that subcommand reads. The
// help texts of options that several subcommands share are written once here.
let private networkUsage = "a NetX (.net/.h5) or NIR (.nir) file"
let private inputUsage = ".npy input: input-layer bias mantissas (one per neuron, (C, H, W) order) or spike trains (neurons..., T), time last"
let private stepsUsage = "steps to run (default 100)"
let private resetUsage = "zero u and v every this many steps (per-layer phase as in Lava's NetX test)"
let private renamedUsage = "old name of --out (kept for one release)"

/// Options of `snn loihi import` and `snn loihi validate`.
type NetworkArgs =
    | [<MainCommand; ExactlyOnce>] Network of path: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Network _ -> networkUsage

/// Options of `snn loihi export`.
type ExportArgs =
    | [<MainCommand; ExactlyOnce>] Network of path: string
    | Out of path: string
    | [<Hidden>] Output of path: string
    | Dt of seconds: float

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Network _ -> networkUsage
            | Out _ -> "the file to write (.net/.h5 or .nir)"
            | Output _ -> renamedUsage
            | Dt _ -> "step in seconds for NIR <-> NetX conversion (required there; NIR time constants are in seconds)"

/// Options of `snn loihi run`.
type RunArgs =
    | [<MainCommand; ExactlyOnce>] Network of path: string
    | Out of folder: string
    | [<Hidden>] Output of folder: string
    | Input of path: string
    | Steps of int
    | Reset_Interval of int
    | Dt of seconds: float

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Network _ -> networkUsage
            | Out _ -> "the folder for <layer>_u.npy, _v.npy, _spikes.npy (default: the current folder)"
            | Output _ -> renamedUsage
            | Input _ -> inputUsage
            | Steps _ -> stepsUsage
            | Reset_Interval _ -> resetUsage
            | Dt _ -> "NIR float runs: step in seconds (default 1e-4)"

/// Options of `snn loihi profile`.
type ProfileArgs =
    | [<MainCommand; ExactlyOnce>] Network of path: string
    | Input of path: string
    | Steps of int
    | Reset_Interval of int
    | Loihi2
    | Png of path: string
    | Threshold_Scales of scales: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Network _ -> "a NetX (.net/.h5) file"
            | Input _ -> inputUsage
            | Steps _ -> stepsUsage
            | Reset_Interval _ -> resetUsage
            | Loihi2 -> "profile with the Loihi 2 figures (extrapolated) instead of Loihi 1"
            | Png _ -> "write the chart of SynOps per layer and per threshold scale to this PNG (or .svg) file"
            | Threshold_Scales _ -> "comma-separated factors for every layer's threshold, one run each (default 1), e.g. 1,2,4"

/// Subcommands of `snn loihi`.
type LoihiArgs =
    | [<CliPrefix(CliPrefix.None)>] Import of ParseResults<NetworkArgs>
    | [<CliPrefix(CliPrefix.None)>] Export of ParseResults<ExportArgs>
    | [<CliPrefix(CliPrefix.None)>] Run of ParseResults<RunArgs>
    | [<CliPrefix(CliPrefix.None)>] Profile of ParseResults<ProfileArgs>
    | [<CliPrefix(CliPrefix.None)>] Validate of ParseResults<NetworkArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Import _ -> "read a NetX or NIR file and print its layers or nodes"
            | Export _ -> "write a NetX or NIR file again (--out); a .nir output of a NetX file or a .net/.h5 output of a NIR file converts, quantizing with lava-dl's mapping (needs --dt)"
            | Run _ -> "run a NetX network bit-accurately (or a NIR graph in float) and write every layer's u, v and spikes"
            | Profile _ -> "run a NetX network and print spikes, SynOps, energy, time per step and the core mapping"
            | Validate _ -> "check a NetX file against the validator rules; exits 1 listing every violation"

let private isNir (path: string) = Path.GetExtension(path).ToLowerInvariant () = ".nir"

let private describe (net: Snn.Loihi.Network) =
    for l in net.Layers do
        let kind = match l.Incoming with None -> "input" | Some (Dense _) -> "dense" | Some (Conv _) -> "conv"
        let p = l.Neurons
        printfn "layer %-4s %-6s shape %-14s du %4d dv %4d vth %6d bias_exp %d delays %b" l.Name kind (String.Join ("x", l.Shape)) p.Du p.Dv p.Vth p.BiasExp l.Delays.IsSome

/// Reads the --input file (when given) as an input drive for `count` input neurons and `steps` steps.
let private drive (input: string option) (count: int) (steps: int) : InputDrive =
    match input with
    | None -> NetworkBias
    | Some path ->
        let a = Npy.read path
        if a.Count = count then InputBias (a.Values |> Array.map int)
        else
            let frames = if a.Shape.Length = 0 then 0 else int a.Shape.[a.Shape.Length - 1]
            if frames = 0 || a.Count / frames <> count then
                raise (InvalidDataException ($"{path}: shape %A{a.Shape} is neither {count} biases nor ({count} neurons, T) spike trains"))
            InputSpikes (Array.init steps (fun t -> Array.init count (fun i -> t < frames && a.Values.[i * frames + t] > 0.0)))

let private options (steps: int) (resetInterval: int option) record =
    { RunOptions.For steps with ResetInterval = resetInterval; RecordState = record }

let private writeLayer (folder: string) (name: string) (suffix: string) (shape: int[]) (steps: int) (value: int -> int -> float) (descr: string) =
    let n = shape |> Array.fold (*) 1
    let data = Array.init (n * steps) (fun k -> value (k % steps) (k / steps))
    Npy.write (Path.Combine (folder, $"layer{name}_{suffix}.npy")) descr (Array.append (shape |> Array.map int64) [| int64 steps |]) data

/// The --threshold-scales list ("1,2,4"): finite factors > 0; [1] when absent.
let private thresholdScales (text: string option) : float[] =
    match text with
    | None -> [| 1.0 |]
    | Some t ->
        let scales = CommaLists.floats "threshold-scales" t
        scales |> Array.iter (fun v -> if not (v > 0.0) then raise (ArgumentException ($"'{v}' is not a finite number > 0", "threshold-scales")))
        if scales.Length = 0 then raise (ArgumentException ("lists no scale", "threshold-scales")) else scales

/// Runs the subcommand; returns the process exit code.
let private dispatch (args: ParseResults<LoihiArgs>) : int =
    match args.GetSubCommand () with
    | Import a ->
        let path = a.GetResult NetworkArgs.Network
        if isNir path then
            let doc = Nir.read path
            printfn "NIR %s" doc.Version
            for KeyValue (name, node) in doc.Graph.Nodes do printfn "node %-10s %s" name node.Type
            for (s, t) in doc.Graph.Edges do printfn "edge %s -> %s" s t
        else describe (Netx.read path)
        0
    | Export a ->
        let path = a.GetResult ExportArgs.Network
        let output =
            match Vocabulary.renamed "--out" "--output" (a.TryGetResult ExportArgs.Out) (a.TryGetResult ExportArgs.Output) with
            | Some file -> file
            | None -> invalidArg "--out" "names the file to write; export needs it"
        let dt () =
            match a.TryGetResult ExportArgs.Dt with
            | Some dt when not (dt > 0.0 && Double.IsFinite dt) -> invalidArg "--dt" $"must be a finite number of seconds > 0, got {dt}"
            | Some dt -> dt
            | None -> raise (ArgumentException ("--dt is required to convert between NIR and NetX (NIR time constants are in seconds)", "dt"))
        match isNir path, isNir output with
        | true, true -> Nir.write output (Nir.read path)
        | true, false ->
            let q = NirMapping.toLoihi (dt ()) None (Nir.read path).Graph
            Netx.write output q.Network
            printfn "%s" (NetworkQuantizer.report q)
        | false, true -> Nir.write output (NirMapping.ofNetwork (dt ()) (Netx.read path))
        // readDocument keeps what the network does not carry (legacy neuron fields, the input transform).
        | false, false -> Netx.writeDocument output (Netx.readDocument path)
        printfn "wrote %s" output
        0
    | Validate a ->
        let problems = Netx.validateFile (a.GetResult NetworkArgs.Network)
        for p in problems do eprintfn "%s" p
        if problems.IsEmpty then printfn "valid"; 0 else 1
    | Run a ->
        let path = a.GetResult RunArgs.Network
        let folder = Vocabulary.renamed "--out" "--output" (a.TryGetResult RunArgs.Out) (a.TryGetResult RunArgs.Output) |> Option.defaultValue "."
        let steps = a.GetResult (RunArgs.Steps, 100)
        if steps < 1 then invalidArg "--steps" $"must be >= 1, got {steps}"
        if isNir path then
            let doc = Nir.read path
            let inputs = doc.Graph.Nodes |> Map.filter (fun _ n -> n.Type = "Input") |> Map.toList
            let width =
                match inputs with
                | [ _, n ] ->
                    let size = Nir.field n "shape" [| 1.0 |] |> Array.fold (*) 1.0
                    if not (size >= 1.0 && size <= float Int32.MaxValue) then
                        raise (InvalidDataException ($"{path}: Input node: shape of {size} elements is not a count from 1 to {Int32.MaxValue}"))
                    int size
                | _ -> raise (InvalidDataException ($"{path}: node: the graph needs exactly one Input node, found {inputs.Length}"))
            // Input, output and voltage traces of every node: about three float64 values per input element and step.
            Snn.Limits.checkElements "--steps" $"{steps} steps of a {width}-wide input" (float steps * float width * float (max 1 doc.Graph.Nodes.Count)) 24.0
            Directory.CreateDirectory folder |> ignore
            let input =
                match a.TryGetResult RunArgs.Input with
                | Some p ->
                    let arr = Npy.read p
                    if arr.Shape.Length = 0 || arr.Values.Length = 0 || arr.Values.Length % width <> 0 then
                        raise (InvalidDataException ($"{p}: shape %A{arr.Shape} is not ({width} inputs, T) spike trains"))
                    let frames = arr.Values.Length / width
                    Array.init steps (fun t -> Array.init width (fun i -> if t < frames then arr.Values.[i * frames + t] else 0.0))
                | None -> Array.init steps (fun _ -> Array.zeroCreate width)
            let dt = a.GetResult (RunArgs.Dt, 1e-4)
            if not (dt > 0.0 && Double.IsFinite dt) then invalidArg "--dt" $"must be a finite number of seconds > 0, got {dt}"
            let traces = Nir.simulate doc.Graph dt steps input
            for KeyValue (name, tr) in traces do
                let n = if tr.Output.Length = 0 then 0 else tr.Output.[0].Length
                writeLayer folder name "out" [| n |] steps (fun t i -> tr.Output.[t].[i]) "<f8"
                if tr.Voltage.Length > 0 && tr.Voltage.[0].Length > 0 then
                    writeLayer folder name "v" [| n |] steps (fun t i -> tr.Voltage.[t].[i]) "<f8"
            printfn "simulated %d steps of dt = %g s; wrote %d nodes to %s" steps dt traces.Count folder
        else
            let net = Netx.read path
            // The recording: u and v (int32) and a spike flag per neuron and step, then each written as float64.
            let neurons = net.Layers |> Array.sumBy (fun l -> float l.Count)
            Snn.Limits.checkElements "--steps" $"recording {steps} steps of {neurons} neurons" (float steps * neurons) 33.0
            Directory.CreateDirectory folder |> ignore
            let result = Emulator.run net (drive (a.TryGetResult RunArgs.Input) net.Layers.[0].Count steps) (options steps (a.TryGetResult RunArgs.Reset_Interval) true)
            net.Layers
            |> Array.iteri (fun l layer ->
                writeLayer folder layer.Name "u" layer.Shape steps (fun t i -> float result.U.Value.[l].[t].[i]) "<i4"
                writeLayer folder layer.Name "v" layer.Shape steps (fun t i -> float result.V.Value.[l].[t].[i]) "<i4"
                writeLayer folder layer.Name "spikes" layer.Shape steps (fun t i -> if result.Spikes.[l].[t].[i] then 1.0 else 0.0) "|u1"
                printfn "layer %s: %d spikes" layer.Name (result.Activity.[l].Spikes |> Array.sum))
            printfn "wrote u, v and spikes (neurons..., T) of %d layers to %s" net.Layers.Length folder
        0
    | Profile a ->
        let net = Netx.read (a.GetResult ProfileArgs.Network)
        let steps = a.GetResult (ProfileArgs.Steps, 100)
        let resetInterval = a.TryGetResult ProfileArgs.Reset_Interval
        let chip = if a.Contains ProfileArgs.Loihi2 then ChipConstants.Loihi2 else ChipConstants.Loihi1
        let scales = thresholdScales (a.TryGetResult ProfileArgs.Threshold_Scales)
        let runs =
            scales
            |> Array.map (fun scale ->
                let thresholds = if scale = 1.0 then None else Some (ProfilePlot.scaledThresholds net scale)
                let clock = Diagnostics.Stopwatch.StartNew ()
                let result = Emulator.run net (drive (a.TryGetResult ProfileArgs.Input) net.Layers.[0].Count steps) { options steps resetInterval false with Thresholds = thresholds }
                let elapsed = clock.Elapsed.TotalMilliseconds
                let p = Profiler.profile chip net result resetInterval
                if scales.Length > 1 then printfn "threshold scale %g:" scale
                printfn "%s" (Profiler.report p)
                printfn "emulator: %d steps in %.1f ms (%.1f us per step)" steps elapsed (1000.0 * elapsed / float (max 1 steps))
                scale, p)
        a.TryGetResult ProfileArgs.Png |> Option.iter (fun path ->
            ProfilePlot.write path Snn.Report.PlotSize.Default runs
            printfn "wrote %s" path)
        if runs |> Array.forall (fun (_, p) -> p.Refusals.IsEmpty) then 0 else 1

/// Runs the command; returns the process exit code (errors are reported by the top-level handler, `CliErrors`).
let run (args: ParseResults<LoihiArgs>) : int = dispatch args
