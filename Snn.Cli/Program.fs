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
    | Verbose
    | Max_Memory of gib: float

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
            | Verbose -> "print the stack trace after an error's one-line message (accepted anywhere on the command line)"
            | Max_Memory _ -> "memory budget in GiB that one data set, recording or model may take (default 8; accepted anywhere)"

/// Argu's parse error on one line: its first line without the "ERROR: " tag, and where the usage is.
let private parseErrorLine (e: ArguParseException) : string =
    let first = e.Message.Split ([| '\n'; '\r' |], System.StringSplitOptions.RemoveEmptyEntries) |> Array.tryHead |> Option.defaultValue "invalid arguments"
    let text = if first.StartsWith "ERROR: " then first.Substring 7 else first
    $"{text.TrimEnd ()} (see --help)"

/// Takes `--max-memory GIB` (accepted anywhere, like `--verbose`) out of the arguments and sets the memory budget
/// that large requests are checked against (default 8 GiB).
let private takeMaxMemory (argv: string[]) : Result<string[], string> =
    match Array.tryFindIndex ((=) "--max-memory") argv with
    | None -> Ok argv
    | Some i when i + 1 >= argv.Length -> Error "--max-memory: needs a size in GiB"
    | Some i ->
        match System.Double.TryParse (argv.[i + 1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture) with
        | true, gib when gib > 0.0 && System.Double.IsFinite gib ->
            Snn.Limits.MaxMemoryBytes <- gib * Snn.Limits.GiB
            Ok (Array.append argv.[.. i - 1] argv.[i + 2 ..])
        | _ -> Error $"--max-memory: '{argv.[i + 1]}' is not a positive size in GiB"

/// Every command runs under one handler: an error of any kind prints exactly one line `snn: <message>` on standard
/// error and exits non-zero (2 for bad input, 1 for a defect); `--verbose` adds the stack trace.
/// Runs one `snn` command line; returns the exit code. In-process callers (the tests) call this.
let run argv =
    CliErrors.Verbose <- Array.contains "--verbose" argv
    let argv = argv |> Array.filter ((<>) "--verbose")
    Snn.Limits.MaxMemoryBytes <- Snn.Limits.DefaultMaxMemoryBytes
    match takeMaxMemory argv with
    | Error message -> CliErrors.refuse message
    | Ok argv ->
        let parser = ArgumentParser.Create<Command>(programName = "snn")
        try
            let results = parser.ParseCommandLine (argv, raiseOnUsage = true)
            CliErrors.guard (fun () ->
                match results.GetSubCommand () with
                | Train args -> TrainCommand.run args
                | Simulate args -> SimulateCommand.run args
                | Loihi args -> LoihiCommand.run args
                | Data args -> DataCommand.run args
                | Experiment args -> ExperimentCommand.run args
                | Tmsnn args -> TmSnnCommand.run args
                | Stdp args -> StdpCommand.run args
                | Verbose | Max_Memory _ -> CliErrors.refuse "no command given (see --help)")
        with
        | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
            eprintfn "%s" e.Message
            0
        | :? ArguParseException as e -> CliErrors.refuse (parseErrorLine e)
        | e -> CliErrors.report e

/// The process's entry point. It first restarts the process with glibc's small-block caches off (in the W2
/// benchmark, peak memory fell by a third; set GLIBC_TUNABLES yourself to choose otherwise) and, on AVX-512 CPUs,
/// 512-bit `Vector<T>` for the neuron kernels (set DOTNET_MaxVectorTBitWidth yourself to choose otherwise), both
/// through `Allocator.restartTuned`. Only here does one thread drive TorchSharp for the whole process, so undisposed
/// handles are freed before every training step (`Allocator.releaseBeforeSteps`; in the W3 benchmark, peak memory fell
/// from 941 to 391 MB). `run` alone leaves both off: in a process where other threads use TorchSharp (a parallel
/// test run), the collection may finalize a scalar another thread is still passing to libtorch.
[<EntryPoint>]
let main argv =
    Snn.Allocator.restartTuned true true |> ignore
    Snn.Allocator.releaseBeforeSteps <- true
    // One thread drives TorchSharp here, so the kernels may share libtorch's OpenMP team (FusedKernelSettings).
    Snn.FusedKernelSettings.OpenMpTeam <- true
    run argv
