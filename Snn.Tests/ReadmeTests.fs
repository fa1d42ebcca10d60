/// The README's F# snippets run as written: the build extracts the blocks marked `<!-- compiled: fsharp -->` into
/// ReadmeSnippets.fsx beside this program (build/ReadmeSnippets.cs); here they run under dotnet fsi with the built
/// assemblies referenced, so a snippet that stops compiling (or throws) fails. The C# blocks are compiled with the
/// C# consumer tests.
module Snn.Tests.ReadmeTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Snn

let private folder = AppContext.BaseDirectory

/// The script header: the built assemblies and libtorch from this program's folder (as examples/shared does).
let private header =
    let native = Path.Combine (folder, "runtimes", "linux-x64", "native")
    let reference (file: string) = "#r @\"" + Path.Combine (folder, file) + "\""
    let load (file: string) = "System.Runtime.InteropServices.NativeLibrary.Load @\"" + Path.Combine (native, file) + "\" |> ignore"
    String.concat "\n" [ reference "TorchSharp.dll"; reference "Snn.FSharp.dll"; load "libtorch_cpu.so"; load "libLibTorchSharp.so"; "" ]

let tests =
    testList "README" [
        test "the F# snippets compile and run as written" {
            let snippets = Path.Combine (folder, "ReadmeSnippets.fsx")
            Expect.isTrue (File.Exists snippets) $"{snippets} is written by the build (build/ReadmeSnippets.targets)"
            let body = File.ReadAllText snippets
            Expect.stringContains body "Lif.unroll" "the README's F# block was extracted"
            let script = Path.Combine (Path.GetTempPath (), $"snn-readme-{Guid.NewGuid():N}.fsx")
            File.WriteAllText (script, header + body + "\nprintfn \"README snippets ran\"\n")
            try
                let info = ProcessStartInfo ("dotnet", $"fsi --quiet --exec \"{script}\"", RedirectStandardOutput = true, RedirectStandardError = true)
                use fsi = Process.Start info
                let output = fsi.StandardOutput.ReadToEndAsync ()
                let errors = fsi.StandardError.ReadToEnd ()
                fsi.WaitForExit ()
                Expect.equal fsi.ExitCode 0 $"dotnet fsi failed on the README's F# snippets:\n{errors}"
                Expect.stringContains output.Result "README snippets ran" "the script ran to its end"
            finally
                File.Delete script
        }
        test "the README's run.yaml loads as a training configuration" {
            let blocks = File.ReadAllText (Path.Combine (folder, "ReadmeSnippets.yaml"))
            let first = blocks.Substring (0, blocks.IndexOf "\n---")
            let path = Path.Combine (Path.GetTempPath (), $"snn-readme-{Guid.NewGuid():N}.yaml")
            File.WriteAllText (path, first)
            try
                let settings = TrainConfig.trainerSettings (TrainConfig.resolve (Some path) Map.empty [ "optimizer.lr=1e-3" ])
                Expect.equal settings.Epochs 4 "epochs"
                Expect.equal settings.Optimizer (Training.AdamW 0.01) "optimizer"
                Expect.equal settings.Schedule (Training.Cosine 1e-4) "schedule"
                Expect.floatClose Accuracy.veryHigh settings.LearningRate 1e-3 "the override wins"
            finally
                File.Delete path
        }
    ]
