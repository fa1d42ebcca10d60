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

let tests =
    testList "Hostile input" [
        linkCycleTests
    ]
