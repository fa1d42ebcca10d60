/// Hostile input: files and arguments built to break the readers and the CLI. Every case must end in a non-zero exit
/// code and one line `snn: <message>` (or an InvalidDataException), never a crash, a hang or a runaway allocation.
module Snn.Tests.HostileInputTests

open System
open System.IO
open System.IO.Compression
open Expecto
open Snn.Data
open Snn.Tests.Assertions

/// HDF5 files with link cycles, written by h5py (PureHDF cannot write soft links), gzip-compressed and base64-encoded.
/// netxSelf: `f['layer'] = SoftLink('/layer')`; netxRoot: `f['layer/loop'] = SoftLink('/')`; shdSelf: an SHD layout
/// whose `spikes/times` is `SoftLink('/spikes/times')` and `spikes/units` is `SoftLink('/spikes')`.
module private LinkCycles =
    let netxSelf = "H4sIAAAAAAACA+v0cHHj5ZLiYubgYICB/1BwGMo3gNJsUonm/h4uQUwKDarC2ci4gkkIWSMMcDExMAK1CTIwMHIwsuYkVqYWsTHog2kGZwZqACPhVjsAUTLRdcMAAAA="
    let netxRoot = "H4sIAAAAAAACA+v0cHHj5ZLiYubgYICB/1AQxgjhG0DFzYJrrvt7uAQxKTSoCmcj4womIWSNMMDFxAA0gk2AAUix5iRWphYdhtnhwkAVwJbhq0WOk7iBTuJgZMnJzy9gZNBn8GSgHoj/erkCANvBXhJWAQAA"
    let shdSelf = "H4sIAAAAAAACA+v0cHHj5ZLiYubgYICB/1DABBUygIorRrl4+3u4BDEpNKgKZyPjCiYhZI0wwMXEwMjAwCbIAKTYigsys1OLD0PNggrmJCal5hSHMUJF9RhIBLrT2HaQ4yQJoO0cjKwlmbmpxbwM+hC36YO5bEIQudK8zJJidpgcgxqxTvJawPMI7CRGBkZGEQYGJkYggMrBaGYeBkYBIM0E5gkwsAJdxczFAbSZhZEBGupMMAN3MAxZIFClmsQwCkbBKBgFo2BQAgCUZc7iAggAAA=="

    /// The file bytes of one of the encodings above.
    let bytes (encoded: string) : byte[] =
        use input = new GZipStream (new MemoryStream (Convert.FromBase64String encoded), CompressionMode.Decompress)
        use output = new MemoryStream ()
        input.CopyTo output
        output.ToArray ()

let private linkCycleTests =
    testList "HDF5 link cycles" [
        test "a soft link to itself or to '/' is one clear error in loihi validate, run and import" {
            inTemporaryFolder (fun dir ->
                for name, encoded, expected in [ "self.net", LinkCycles.netxSelf, "soft link cycle"; "root.net", LinkCycles.netxRoot, "nest deeper than 32 levels" ] do
                    let path = Path.Combine (dir, name)
                    File.WriteAllBytes (path, LinkCycles.bytes encoded)
                    for command in [ [ "loihi"; "validate"; path ]; [ "loihi"; "run"; path; "--steps"; "2" ]; [ "loihi"; "import"; path ] ] do
                        let code, _, err = runSnn command
                        expectOneLineError (String.Join (" ", command)) (code, err)
                        Expect.stringContains err expected $"{name}: says what is wrong")
        }
        test "the SHD reader refuses a soft link cycle with the object path" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "shd.h5")
                File.WriteAllBytes (path, LinkCycles.bytes LinkCycles.shdSelf)
                let code, _, err = runSnn [ "data"; "dump"; "--format"; "shd"; path ]
                expectOneLineError "data dump shd" (code, err)
                Expect.stringContains err "'spikes/times': a soft link cycle" "names the object")
        }
        test "the stack guard turns unbounded recursion through a stream into a catchable exception" {
            // The traversal-level guard: recursion that reads at every level, as PureHDF does following soft links.
            use stream = new StackGuardStream (new MemoryStream (Array.zeroCreate 16), true)
            let rec follow (depth: int) : int =
                stream.Position <- 0L
                stream.ReadByte () |> ignore
                1 + follow (depth + 1)
            let run () =
                let mutable outcome = Choice1Of2 0
                let thread = Threading.Thread ((fun () -> outcome <- (try Choice1Of2 (follow 0) with e -> Choice2Of2 e)), 1 <<< 20)
                thread.Start ()
                thread.Join ()
                outcome
            match run () with
            | Choice2Of2 (:? InsufficientExecutionStackException) -> ()
            | other -> failtestf "expected InsufficientExecutionStackException, got %A" other
        }
    ]

/// A small valid file of each format and the `snn` command that reads it (the path is the last file argument).
type private Seed = { Name: string; Extension: string; Bytes: unit -> byte[]; Command: string -> string -> string list }

/// A two-layer NetX network (4 inputs, 3 dense neurons) whose tree is also the base of the NIR file.
let private smallNetwork () : Snn.Loihi.Network =
    let neurons n : Snn.Loihi.LayerNeurons = { Du = 1023; Dv = 512; Vth = 40; BiasExp = 6; BiasMant = Array.zeroCreate n }
    { Layers =
        [| { Name = "0"; Shape = [| 4 |]; Neurons = neurons 4; Incoming = None; WeightExp = 0; Delays = None; Recurrent = None }
           { Name = "1"; Shape = [| 3 |]; Neurons = neurons 3; Incoming = Some (Snn.Loihi.Dense (4, Array.init 12 (fun i -> (i % 5 - 2) * 2)))
             WeightExp = 0; Delays = None; Recurrent = None } |] }

/// The bytes a writer that only takes a path produces.
let private viaFile (extension: string) (write: string -> unit) : byte[] =
    let path = Path.Combine (Path.GetTempPath (), $"snn-seed-{Guid.NewGuid ():N}{extension}")
    try
        write path
        File.ReadAllBytes path
    finally File.Delete path

let private seeds : Seed list =
    let ev x y t on : DataFormatWriters.Ev = { X = x; Y = y; T = t; On = on }
    let events = [ ev 1 2 10L true; ev 3 4 250L false; ev 5 6 900L true; ev 7 8 1500L false ]
    let dir (folder: string) = Path.Combine (folder, "out")
    [ { Name = "N-MNIST"; Extension = ".bin"; Bytes = (fun () -> DataFormatWriters.nmnist events Set.empty)
        Command = fun _ path -> [ "data"; "dump"; "--format"; "nmnist"; path ] }
      { Name = "AEDAT 3.1"; Extension = ".aedat"; Bytes = (fun () -> DataFormatWriters.aedat3 events [])
        Command = fun _ path -> [ "data"; "dump"; "--format"; "gesture"; path ] }
      { Name = "AEDAT 2 (CIFAR10-DVS)"; Extension = ".aedat"; Bytes = (fun () -> DataFormatWriters.aedat2 events)
        Command = fun folder path -> [ "data"; "frames"; "--format"; "cifar10dvs"; path; "--frames"; "3"; "--out"; Path.Combine (folder, "f.npy") ] }
      { Name = "IDX (gzip)"; Extension = ".gz"; Bytes = (fun () -> DataFormatWriters.gzip (DataFormatWriters.idxBytes [ 2; 3; 3 ] (Array.init 18 byte)))
        Command = fun _ path -> [ "data"; "dump"; "--format"; "idx"; path ] }
      { Name = "SHD (HDF5)"; Extension = ".h5"; Bytes = (fun () -> DataFormatWriters.shd [ [| 0.001f; 0.002f |], [| 3us; 7us |], 1us ])
        Command = fun folder path -> [ "data"; "frames"; "--format"; "shd"; path; "--bin-us"; "500"; "--out"; Path.Combine (folder, "f.npy") ] }
      { Name = "N-TIDIGITS (HDF5)"; Extension = ".hdf5"; Bytes = (fun () -> DataFormatWriters.ntidigits "train" [ "man-ab-1", [| 0.01; 0.02 |], [| 3uy; 9uy |] ])
        Command = fun _ path -> [ "data"; "dump"; "--format"; "ntidigits"; path ] }
      { Name = "NetX (HDF5)"; Extension = ".net"; Bytes = (fun () -> viaFile ".net" (fun p -> Snn.Loihi.Netx.write p (smallNetwork ())))
        Command = fun folder path -> [ "loihi"; "run"; path; "--steps"; "4"; "--out"; dir folder ] }
      { Name = "NIR (HDF5)"; Extension = ".nir"; Bytes = (fun () -> viaFile ".nir" (fun p -> Snn.Loihi.Nir.write p (Snn.Loihi.NirMapping.ofNetwork 1e-3 (smallNetwork ()))))
        Command = fun folder path -> [ "loihi"; "run"; path; "--steps"; "4"; "--out"; dir folder ] }
      { Name = ".npy input"; Extension = ".npy"; Bytes = (fun () -> viaFile ".npy" (fun p -> Npy.write p "<f8" [| 4L; 3L |] (Array.init 12 (fun i -> float (i % 2)))))
        Command = fun folder path ->
            let net = Path.Combine (folder, "net.net")
            if not (File.Exists net) then Snn.Loihi.Netx.write net (smallNetwork ())
            [ "loihi"; "run"; net; "--input"; path; "--steps"; "3"; "--out"; dir folder ] }
      { Name = "JSON config"; Extension = ".json"; Bytes = (fun () -> Text.Encoding.UTF8.GetBytes "{\"epochs\": 2, \"threads\": 1, \"optimizer\": {\"lr\": 0.001}}")
        Command = fun _ path -> [ "train"; "--config"; path; "--print-config" ] }
      { Name = "YAML config"; Extension = ".yaml"; Bytes = (fun () -> Text.Encoding.UTF8.GetBytes "epochs: 2\nmodel:\n  hidden: 16\n")
        Command = fun _ path -> [ "train"; "--config"; path; "--print-config" ] }
      { Name = "CSV input"; Extension = ".csv"; Bytes = (fun () -> Text.Encoding.UTF8.GetBytes "i\n0.5\n1.5\n2.5\n")
        Command = fun _ path -> [ "simulate"; "--model"; "lif"; "--input"; "spikes:" + path ] } ]

/// Seeded mutations of a valid file: truncation, byte flips, 0xFF runs (huge counts and sizes), garbage appended,
/// an empty file and random bytes of the same length.
let private mutants (random: Random) (bytes: byte[]) : (string * byte[]) list =
    let flip count =
        let copy = Array.copy bytes
        for _ in 1 .. count do copy.[random.Next copy.Length] <- byte (random.Next 256)
        copy
    let ones () =
        let copy = Array.copy bytes
        let at = random.Next (max 1 (copy.Length - 4))
        for k in at .. min (copy.Length - 1) (at + 3) do copy.[k] <- 0xFFuy
        copy
    let garbage n = Array.init n (fun _ -> byte (random.Next 256))
    [ for k in 1 .. 8 do
        let cut = random.Next bytes.Length
        yield $"truncated at {cut}", bytes.[.. cut - 1]
      for k in 1 .. 10 do yield $"{k} bytes flipped", flip k
      for k in 1 .. 8 do yield $"0xFF run {k}", ones ()
      yield "garbage appended", Array.append bytes (garbage 64)
      yield "empty", [||]
      yield "random bytes", garbage bytes.Length ]

/// Hostile arguments: each must be refused with one line before anything large is allocated.
let private hostileArguments (folder: string) : string list list =
    let missing = Path.Combine (folder, "missing", "x")
    [ [ "train"; "--threads"; "0" ]
      [ "train"; "--threads"; "-1" ]
      [ "experiment"; "--suite"; "tmsnn"; "--threads"; "0" ]
      [ "train"; "--hidden"; "2000000000" ]
      [ "train"; "--train-samples"; "20000000" ]
      [ "train"; "--epochs"; "0" ]
      [ "train"; "--out"; missing; "--epochs"; "0" ]
      [ "train"; "--config"; folder ]
      [ "simulate"; "--model"; "lif"; "--input"; "constant:1"; "--steps"; "1000000000" ]
      [ "simulate"; "--model"; "lif"; "--input"; "constant:1"; "--steps"; "-3" ]
      [ "simulate"; "--model"; "lif"; "--input"; "constant:1"; "--dt"; "nan" ]
      [ "data"; "dump"; "--format"; "nmnist"; folder ]
      [ "data"; "dump"; "--format"; "nmnist"; missing ]
      [ "data"; "frames"; "--format"; "shd"; missing; "--bin-us"; "0"; "--out"; Path.Combine (folder, "f.npy") ]
      [ "loihi"; "run"; missing ]
      [ "loihi"; "run"; folder ]
      [ "loihi"; "import"; missing ]
      [ "loihi"; "profile"; missing ]
      [ "stdp"; "--data"; missing ]
      [ "snn-no-such-command" ]
      [ "--max-memory"; "zero"; "train" ]
      // Outputs that cannot be written: a folder where a file goes, a file where a folder goes, a missing folder.
      let idx = Path.Combine (folder, "images.idx")
      if not (File.Exists idx) then File.WriteAllBytes (idx, DataFormatWriters.idxBytes [ 1; 4; 4 ] (Array.init 16 byte))
      let net = Path.Combine (folder, "out.net")
      if not (File.Exists net) then Snn.Loihi.Netx.write net (smallNetwork ())
      let aFile = Path.Combine (folder, "a-file")
      if not (File.Exists aFile) then File.WriteAllText (aFile, "x")
      [ "data"; "frames"; "--format"; "idx"; idx; "--frames"; "2"; "--out"; folder ]
      [ "data"; "frames"; "--format"; "idx"; idx; "--frames"; "2"; "--out"; Path.Combine (missing, "f.npy") ]
      [ "data"; "frames"; "--format"; "idx"; idx; "--frames"; "2"; "--out"; Path.Combine (folder, "f.npy"); "--cache"; aFile ]
      [ "loihi"; "run"; net; "--steps"; "2"; "--out"; aFile ]
      [ "loihi"; "export"; net; "--out"; folder ]
      [ "loihi"; "profile"; net; "--steps"; "2"; "--png"; folder ]
      [ "train"; "--epochs"; "1"; "--train-samples"; "8"; "--test-samples"; "8"; "--frames"; "2"; "--out"; aFile ]
      [ "train"; "--epochs"; "1"; "--train-samples"; "8"; "--test-samples"; "8"; "--frames"; "2"; "--set"; $"checkpoint.dir={aFile}"; "--out"; Path.Combine (folder, "run") ]
      // A NIR graph whose Input claims 10^9 neurons (and a Linear that does not match it).
      let huge = Path.Combine (folder, "huge.nir")
      if not (File.Exists huge) then
          let doc = Snn.Loihi.NirMapping.ofNetwork 1e-3 (smallNetwork ())
          let input = doc.Graph.Nodes.["0"]
          let wide = { input with Fields = input.Fields.Add ("shape", Snn.Loihi.Hdf5Tree.vector (Snn.Loihi.Int64s [| 1_000_000_000L |])) }
          Snn.Loihi.Nir.write huge { doc with Graph = { doc.Graph with Nodes = doc.Graph.Nodes.Add ("0", wide) } }
      [ "loihi"; "run"; huge; "--steps"; "3"; "--out"; Path.Combine (folder, "o") ]
      [ "loihi"; "export"; huge; "--out"; Path.Combine (folder, "h.net"); "--dt"; "1e-3" ]
      [ "loihi"; "profile"; huge; "--steps"; "3" ]
      [ "loihi"; "run"; net; "--steps"; "0" ]
      [ "loihi"; "export"; net; "--out"; Path.Combine (folder, "x.nir"); "--dt"; "nan" ] ]

/// Rounds of mutants per format: 1 in the test run (28 mutants per format, a few seconds); the longer suite in
/// bench/robustness/hostile.sh sets SNN_HOSTILE_ROUNDS to replay many more, each round with fresh seeded mutations.
let private rounds : int =
    match Environment.GetEnvironmentVariable "SNN_HOSTILE_ROUNDS" with
    | null | "" -> 1
    | text ->
        match Int32.TryParse text with
        | true, n when n >= 1 -> n
        | _ -> failwithf "SNN_HOSTILE_ROUNDS: expected a positive whole number, got '%s'" text

/// The outcome of one hostile run: a clean refusal, an accepted input (exit 0) or a broken contract.
type private Outcome = Refused | Accepted | Broken of string

let private runCase (args: string list) : Outcome =
    let clock = Diagnostics.Stopwatch.StartNew ()
    let code, _, err = runSnn args
    let lines = err.Split ([| '\n'; '\r' |], StringSplitOptions.RemoveEmptyEntries)
    if clock.Elapsed.TotalSeconds > 20.0 then Broken $"took {clock.Elapsed.TotalSeconds:F0} s"
    elif code = 0 then Accepted
    elif lines.Length = 1 && lines.[0].StartsWith "snn: " then Refused
    else Broken $"exit {code}, stderr: {err}"

let private suiteTests =
    testList "replayable suite" [
        test "mutated files of every format end in a clean refusal or a valid run (seeded, bounded)" {
            inTemporaryFolder (fun folder ->
                let results =
                    [ for seed, index in List.zip seeds [ 0 .. seeds.Length - 1 ] do
                        let random = Random (20261204 + index)
                        let original = seed.Bytes ()
                        let mutated = [ for round in 1 .. rounds do for name, bytes in mutants random original -> $"round {round}, {name}", bytes ]
                        for name, bytes in ("original", original) :: mutated do
                            let path = Path.Combine (folder, $"input-{index}{seed.Extension}")
                            File.WriteAllBytes (path, bytes)
                            yield seed.Name, name, runCase (seed.Command folder path) ]
                let count f = results |> List.filter (fun (_, _, o) -> f o) |> List.length
                printfn "hostile files: %d inputs, %d clean refusals, %d accepted, %d broken" results.Length (count ((=) Refused)) (count ((=) Accepted)) (count (function Broken _ -> true | _ -> false))
                for format, _, _ in results |> List.distinctBy (fun (f, _, _) -> f) do
                    let mine = results |> List.filter (fun (f, _, _) -> f = format)
                    printfn "  %-24s %3d inputs %3d refused %3d accepted" format mine.Length (mine |> List.filter (fun (_, _, o) -> o = Refused) |> List.length) (mine |> List.filter (fun (_, _, o) -> o = Accepted) |> List.length)
                for format, _, outcome in results |> List.filter (fun (_, n, _) -> n = "original") do
                    Expect.equal outcome Accepted $"{format}: the unmutated file is valid (the suite starts from real files)"
                let broken = results |> List.choose (fun (f, n, o) -> match o with Broken why -> Some $"{f} / {n}: {why}" | _ -> None)
                Expect.isEmpty broken "every hostile file is refused in one line or read")
        }
        test "hostile arguments are refused in one line before anything large is allocated" {
            inTemporaryFolder (fun folder ->
                let results =
                    [ for args in hostileArguments folder ->
                        let outcome = runCase args
                        let _, _, err = runSnn args
                        printfn "  snn %s -> %s" (String.Join (" ", args)) (err.Trim ())
                        args, outcome ]
                printfn "hostile arguments: %d inputs, %d clean refusals" results.Length (results |> List.filter (fun (_, o) -> o = Refused) |> List.length)
                for args, outcome in results do
                    Expect.equal outcome Refused (String.Join (" ", args)))
        }
    ]

let tests =
    testList "Hostile input" [
        linkCycleTests
        suiteTests
    ]
