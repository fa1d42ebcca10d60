/// Numeric assertions shared by the example tests.
module Snn.Tests.Assertions

open System
open System.IO
open Expecto
open Snn.Tensors

/// Asserts that every element of `actual` is within `tolerance` of `expected` (absolute), naming the first miss.
let allClose (tolerance: float) (expected: float[]) (actual: float[]) (message: string) =
    Expect.equal actual.Length expected.Length $"{message}: length"
    for i in 0 .. expected.Length - 1 do
        if not (abs (expected.[i] - actual.[i]) <= tolerance) then
            failtestf "%s: element %d is %g, expected %g (tolerance %g)" message i actual.[i] expected.[i] tolerance

/// The elements of a tensor as floats.
let values (t: Tensor) : float[] = toFloat64Array t

/// A float64 tensor of the given shape from row-major values.
let shaped (shape: int64[]) (data: float[]) : Tensor = TorchSharp.torch.tensor(data).reshape shape

/// A float32 tensor of the given shape from row-major values.
let shaped32 (shape: int64[]) (data: float32[]) : Tensor = TorchSharp.torch.tensor(data).reshape shape

/// The repository root: the nearest ancestor of the test binary that holds paket.dependencies.
let repositoryRoot : string =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "no ancestor of the test binary holds paket.dependencies"
        elif File.Exists (Path.Combine (dir.FullName, "paket.dependencies")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// Runs `body` in a fresh folder under the temporary directory and deletes the folder afterwards, whatever happens.
let inTemporaryFolder (body: string -> unit) =
    let folder = Path.Combine (Path.GetTempPath (), $"snn-test-{Guid.NewGuid ():N}")
    Directory.CreateDirectory folder |> ignore
    try body folder
    finally Directory.Delete (folder, true)

/// A file of the shared fixtures written by other tools (`../shared/fixtures/` beside the repository).
let fixture (relativePath: string) : string =
    let path = Path.GetFullPath (Path.Combine (repositoryRoot, "..", "shared", "fixtures", relativePath))
    if not (File.Exists path) then failtestf "fixture %s is missing (the shared folder must sit beside the repository)" path
    path

/// Runs the `snn` command line in-process with `args`; returns (exit code, standard output, standard error).
let runSnn (args: string list) : int * string * string =
    let out, err = new StringWriter (), new StringWriter ()
    // Captured output is not a terminal even when the tests run on one: progress comes as plain lines.
    Environment.SetEnvironmentVariable ("SNN_PROGRESS", "plain")
    let oldOut, oldErr = Console.Out, Console.Error
    Console.SetOut out
    Console.SetError err
    try
        let code = Snn.Cli.Program.run (Array.ofList args)
        code, out.ToString (), err.ToString ()
    finally
        Console.SetOut oldOut
        Console.SetError oldErr

/// Checks the CLI's error contract: a non-zero exit code and exactly one line `snn: <message>` on standard error.
let expectOneLineError (what: string) (code: int, err: string) =
    Expect.notEqual code 0 $"{what}: exit code must be non-zero"
    let lines = err.Split ([| '\n'; '\r' |], StringSplitOptions.RemoveEmptyEntries)
    Expect.equal lines.Length 1 $"{what}: exactly one line on standard error, got: {err}"
    Expect.stringStarts lines.[0] "snn: " $"{what}: the one prefix of every command"

/// The exception of type 'E that `f` raises; fails the test when `f` raises none or one of another type.
let thrown<'E when 'E :> exn> (f: unit -> unit) (message: string) : 'E =
    match Expecto.Expect.throwsC f id with
    | :? 'E as e -> e
    | e -> Expecto.Tests.failtestf "%s: expected %s, got %s: %s" message typeof<'E>.Name (e.GetType().Name) e.Message
