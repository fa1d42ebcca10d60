/// The words every `snn` command shares: `--out` for output folders (a run folder `runs/<command>-<timestamp>/` when
/// it is not given), hidden old option names kept for one release, and `--config FILE` / `--set key=value` for the
/// commands whose options are plain flags (`snn tmsnn`, `snn stdp`, `snn experiment`): there a configuration key is
/// the option's name in snake_case (`batch_size: 32` for `--batch-size 32`), a list is the option's comma list
/// (`thresholds: [1.25, 2.5]`), `true` turns a switch on. Layers: configuration file < flags < `--set`.
module Snn.Cli.Vocabulary

open System
open System.Globalization
open System.IO
open Argu
open Snn

/// The value of a renamed option: the new name's when given, else the old name's with a note on standard error
/// that the old name goes in the next release.
let renamed (current: string) (old: string) (value: 'a option) (oldValue: 'a option) : 'a option =
    match value, oldValue with
    | Some v, _ -> Some v
    | None, Some v ->
        eprintfn "snn: note: %s is now called %s; the old name is accepted until the next release" old current
        Some v
    | None, None -> None

/// The output folder of a run: `out` when given, else `runs/<command>-<yyyyMMdd-HHmmss>` under the current folder
/// (with `-2`, `-3`, ... when two runs start in the same second), as SpikingJelly's examples name their logs.
let runFolder (command: string) (out: string option) : string =
    match out with
    | Some folder -> folder
    | None ->
        let stamp = DateTime.Now.ToString ("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)
        let stem = Path.Combine ("runs", $"{command}-{stamp}")
        Seq.initInfinite (fun k -> if k = 0 then stem else $"{stem}-{k + 1}")
        |> Seq.find (fun p -> not (Directory.Exists p) && not (File.Exists p))

/// The union case name of a parsed option ("Batch_Size").
let private caseName (result: 'T) : string =
    (fst (Reflection.FSharpValue.GetUnionFields (box result, typeof<'T>))).Name

/// The command-line words of one configuration value: `--name value`, `--name` alone for `true`, nothing for `false`
/// (a switch left off) or null.
let private words (key: string) (value: ConfigValue) : string list =
    let flag = "--" + key.Replace ('_', '-')
    match value with
    | Boolean true -> [ flag ]
    | Boolean false | Null -> []
    | Integer i -> [ flag; string i ]
    | Real r -> [ flag; r.ToString ("R", CultureInfo.InvariantCulture) ]
    | Text t -> [ flag; t ]

/// The options of `args` with its `--config` file and `--set` overrides applied: each configuration entry becomes the
/// option it names, checked on its own so an error names the file and line (or the override); then the flags given
/// on the command line, then the overrides. Without `--config` and `--set` the options are returned unchanged.
/// The command's two options are the union cases `Config` and `Set`, as in every command that layers.
let layered (args: ParseResults<'T>) : ParseResults<'T> =
    let configCase, setCase = "Config", "Set"
    let given = args.GetAllResults ()
    let isLayer (r: 'T) = let n = caseName r in n = configCase || n = setCase
    let layers = given |> List.filter isLayer
    if layers.IsEmpty then args
    else
        let parser = args.Parser
        let textOf (r: 'T) = (snd (Reflection.FSharpValue.GetUnionFields (box r, typeof<'T>))).[0] :?> string
        // One entry as the words of its option, parsed alone to name the entry's source when the value is wrong.
        let checkedWords (source: string) (key: string) (value: ConfigValue) =
            let ws = words key value
            if key = "config" || key = "set" || key.Contains '.' then
                raise (InvalidDataException $"{source}: key '{key}' is not an option of this command (keys are the option names in snake_case, e.g. batch_size)")
            try parser.ParseCommandLine (Array.ofList ws, ignoreMissing = true, raiseOnUsage = false) |> ignore
            with :? ArguParseException as e ->
                let first = e.Message.Split ([| '\n'; '\r' |], StringSplitOptions.RemoveEmptyEntries) |> Array.head
                let reason = if first.StartsWith "ERROR: " then first.Substring 7 else first
                raise (InvalidDataException $"{source}: key '{key}': {reason.TrimEnd ()}")
            ws
        let fromFile =
            layers
            |> List.filter (fun r -> caseName r = configCase)
            |> List.collect (fun r ->
                Config.load (textOf r)
                |> Map.toList
                |> List.collect (fun (key, e) -> checkedWords e.Source key e.Value))
        let fromSet =
            layers
            |> List.filter (fun r -> caseName r = setCase)
            |> List.collect (fun r ->
                let assignment = textOf r
                match assignment.IndexOf '=' with
                | i when i > 0 -> checkedWords $"--set {assignment}" (assignment.Substring(0, i).Trim ()) (Config.scalarOf (assignment.Substring (i + 1)))
                | _ -> invalidArg "set" $"'{assignment}' is not a key=value assignment")
        let flags = parser.PrintCommandLineArguments (given |> List.filter (isLayer >> not)) |> List.ofArray
        parser.ParseCommandLine (Array.ofList (fromFile @ flags @ fromSet), raiseOnUsage = false)

/// The effective options of `args` as YAML `key: value` lines (the configuration a run folder keeps): the options
/// in snake_case, switches as `true`, without `--config` / `--set` (already applied by `layered`) and without `--out`
/// (the folder the file is written to, so that the file starts a new run folder when it is used again).
let effectiveYaml (args: ParseResults<'T>) : string =
    let skip = [ "Out" ]
    let quote (s: string) = "\"" + s.Replace("\\", "\\\\").Replace ("\"", "\\\"") + "\""
    // A flag given after the configuration file's value wins (Argu keeps the last): one line per option, the last.
    args.GetAllResults ()
    |> List.filter (fun r -> not (List.contains (caseName r) skip))
    |> List.rev
    |> List.distinctBy caseName
    |> List.rev
    |> List.map (fun r ->
        let case, fields = Reflection.FSharpValue.GetUnionFields (box r, typeof<'T>)
        let key = case.Name.ToLowerInvariant ()
        let value =
            match fields with
            | [||] -> "true"
            | [| :? string as s |] -> quote s
            | [| :? float as f |] -> f.ToString ("R", CultureInfo.InvariantCulture)
            | [| v |] -> string v
            | _ -> quote (string fields)
        $"{key}: {value}\n")
    |> String.concat ""

/// Writes the effective options of `args` (`effectiveYaml`) to `folder`/config.yaml, whole or not at all.
let writeEffectiveConfig (folder: string) (args: ParseResults<'T>) : unit =
    AtomicFile.write (Path.Combine (folder, "config.yaml")) (fun p -> File.WriteAllText (p, effectiveYaml args))
