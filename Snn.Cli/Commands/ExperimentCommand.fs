/// `snn experiment`: runs the structure of the thesis's experiment tables over several seeds and writes each table
/// as JSON and Markdown. Each suite lives in its own file and is listed in `suites`.
module Snn.Cli.ExperimentCommand

open System
open System.IO
open Argu
open Snn
open Snn.Experiments
open Snn.Experiments.SuiteOptions

/// The suites: name, what it runs, and the runner returning its tables (already written to disk by the caller).
let suites : (string * string * (SuiteOptions -> Experiment.Table list)) list =
    [ "auxiliary", "auxiliary learning, thesis tables 4-6 and the effect of gamma", AuxiliaryExperiment.run
      "auxilearn", "loss combination learned by implicit differentiation, thesis table 7", AuxiLearnExperiment.run
      "tmsnn", "threshold-modulated multi-task SNN, thesis tables 10-14 and 16", TmSnnExperiment.run ]

/// Options of `snn experiment`.
type ExperimentArgs =
    | Suite of name: string
    | Quick
    | Seeds of list: string
    | Dataset of name: string
    | Tables of list: string
    | Threads of int
    | Out of directory: string
    | Config of path: string
    | Set of assignment: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Suite _ ->
                let listed = suites |> List.map (fun (name, what, _) -> $"{name} ({what})")
                "which tables to run: " + String.Join ("; ", listed) + "; or all"
            | Quick -> "a run small enough for a test instead of the full one"
            | Seeds _ -> "comma-separated seeds (default 0,1,2; quick mode: 0,1)"
            | Dataset _ -> "moving-patterns, event-fashion-mnist, event-mnist or all (default): the datasets the suites run on"
            | Tables _ -> "comma-separated tables a suite runs, e.g. table10,table13 (tmsnn: table10-14, table16, learned; default all)"
            | Threads _ -> "intra-op threads (default: all cores; 1 keeps a loaded machine's runs from stalling each other)"
            | Out _ -> "folder for the JSON and Markdown tables, config.yaml and log.txt (default runs/experiment-<timestamp>)"
            | Config _ -> "a .json or .yaml file of these options in snake_case (e.g. seeds: [0, 1]); flags and --set override it"
            | Set _ -> "override one option, e.g. --set seeds=0,1 (repeatable; applied last)"

/// Runs the chosen suites and writes their tables; returns the process exit code.
let run (args: ParseResults<ExperimentArgs>) : int =
    let args = Vocabulary.layered args
    args.TryGetResult Threads |> Option.iter (Snn.Limits.setThreads "--threads")
    let quick = args.Contains Quick
    let seeds =
        match args.TryGetResult Seeds with
        | Some text -> CommaLists.integers "seeds" text |> List.ofArray
        | None -> if quick then [ 0; 1 ] else [ 0; 1; 2 ]
    if seeds.IsEmpty then invalidArg "seeds" "lists no seed"
    let directory = Vocabulary.runFolder "experiment" (args.TryGetResult Out)
    let name =
        match args.TryGetResult Suite with
        | Some name -> name
        | None ->
            let known = String.Join (", ", suites |> List.map (fun (n, _, _) -> n))
            invalidArg "--suite" $"is required (on the command line or in --config): one of {known}, all"
    let chosen =
        if name = "all" then suites
        else
            match suites |> List.filter (fun (n, _, _) -> n = name) with
            | [] ->
                let known = String.Join (", ", suites |> List.map (fun (n, d, _) -> $"{n} ({d})"))
                invalidArg "suite" $"'{name}' is not a suite; known: {known}, all"
            | found -> found
    let datasets =
        match args.GetResult (Dataset, defaultValue = "all") with
        | "all" -> datasetNames
        | name when List.contains name datasetNames -> [ name ]
        | other ->
            let known = String.Join (", ", datasetNames)
            invalidArg "dataset" $"'{other}' is none of {known}, all"
    let tables =
        match args.TryGetResult Tables with
        | None -> []
        | Some text -> text.Split (',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries) |> List.ofArray
    let options = { Quick = quick; Seeds = seeds; Datasets = datasets; Tables = tables; OutputDirectory = directory; Log = fun line -> printfn "%s" line }
    Directory.CreateDirectory directory |> ignore
    Vocabulary.writeEffectiveConfig directory args
    RunOutput.withLog (Path.Combine (directory, "log.txt")) (fun () ->
        printfn "run folder: %s" directory
        for suiteName, _, runSuite in chosen do
            for table in runSuite options do
                let json, markdown = Experiment.write (Path.Combine (directory, suiteName)) table
                printfn "%s" (Experiment.toMarkdown table)
                printfn $"wrote {json} and {markdown}")
    0
