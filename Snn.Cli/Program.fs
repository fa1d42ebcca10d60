/// The `snn` command-line tool.
module Snn.Cli.Program

open Argu

/// Subcommands of `snn`.
type Command =
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainCommand.TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Simulate of ParseResults<SimulateCommand.SimulateArgs>
    | [<CliPrefix(CliPrefix.None)>] Loihi of ParseResults<LoihiCommand.LoihiArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataCommand.DataArgs>
    | [<CliPrefix(CliPrefix.None)>] Experiment of ParseResults<ExperimentCommand.ExperimentArgs>
    | [<CliPrefix(CliPrefix.None)>] Tmsnn of ParseResults<TmSnnCommand.TmSnnArgs>
    | [<CliPrefix(CliPrefix.None)>] Stdp of ParseResults<StdpCommand.StdpArgs>

    interface IArgParserTemplate with
        member c.Usage =
            match c with
            | Train _ -> "train the fully connected LIF network on the built-in moving-patterns event dataset"
            | Simulate _ -> "simulate one neuron of a model on an input and print its trace as CSV"
            | Loihi _ -> "import, export, run, profile or validate NetX and NIR networks on the bit-accurate Loihi emulator"
            | Data _ -> "decode neuromorphic dataset files: dump events as CSV, write integrated frames as .npy"
            | Experiment _ -> "run the thesis experiment tables over several seeds; write them as JSON and Markdown"
            | Tmsnn _ -> "train the threshold-modulated multi-task SNN on the built-in dataset; per-task accuracy, SynOps, Loihi export"
            | Stdp _ -> "train the first-spike STDP / R-STDP network (Mozafari 2018) layer by layer; MovingPatterns or Fashion-MNIST"

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Command>(programName = "snn")
    try
        let results = parser.ParseCommandLine (argv, raiseOnUsage = true)
        match results.GetSubCommand () with
        | Train args -> TrainCommand.run args
        | Simulate args -> SimulateCommand.run args
        | Loihi args -> LoihiCommand.run args
        | Data args -> DataCommand.run args
        | Experiment args -> ExperimentCommand.run args
        | Tmsnn args -> TmSnnCommand.run args
        | Stdp args -> StdpCommand.run args
    with
    | :? ArguParseException as e ->
        eprintfn "%s" e.Message
        if e.ErrorCode = ErrorCode.HelpText then 0 else 2
    | :? System.ArgumentException as e ->
        eprintfn "snn: %s" e.Message
        2
    | :? System.IO.InvalidDataException as e ->
        eprintfn "snn: %s" e.Message
        2
