/// `snn data dump` and `snn data frames` on files written by the independent writers.
module Snn.Tests.DataCliTests

open System
open System.IO
open Expecto
open Snn.Cli
open Snn.Data
open Snn.Tests.DataFormatWriters
open Snn.Tests.DataReaderTests

/// Runs `snn data ARGV`, expecting exit code 0, and returns the output lines.
let private run (argv: string[]) : string list =
    use out = new StringWriter ()
    Expect.equal (DataCommand.execute argv out) 0 "exit code"
    out.ToString().Split ('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.map (fun l -> l.TrimEnd '\r') |> Array.toList

let private dump = run

let tests =
    testList "Data.Cli" [
        test "dump prints camera events as x,y,t,p with the label of a class folder" {
            let root = tempFolder "cli"
            try
                Directory.CreateDirectory (Path.Combine (root, "7")) |> ignore
                let path = Path.Combine (root, "7", "00001.bin")
                File.WriteAllBytes (path, nmnist [ { X = 1; Y = 2; T = 30L; On = true }; { X = 3; Y = 4; T = 50L; On = false } ] Set.empty)
                Expect.equal (dump [| "dump"; "--format"; "nmnist"; path |]) [ "x,y,t,p,label"; "1,2,30,1,7"; "3,4,50,0,7" ] "CSV"
                Expect.equal (dump [| "dump"; "--format"; "nmnist"; path; "--limit"; "1" |]).Length 2 "header + 1 row"
            finally Directory.Delete (root, true)
        }
        test "dump prints audio samples as channel,t,label and IDX labels as label" {
            let root = tempFolder "cli-audio"
            try
                let h5 = Path.Combine (root, "shd_test.h5")
                File.WriteAllBytes (h5, shd [ [| 0.001f |], [| 4us |], 2us; [| 0.5f; 0.25f |], [| 9us; 8us |], 5us ])
                Expect.equal (dump [| "dump"; "--format"; "shd"; h5; "--sample"; "1" |]) [ "channel,t,label"; "8,250000,5"; "9,500000,5" ] "one sample"
                Expect.equal (dump [| "dump"; "--format"; "shd"; h5 |]).[0] "sample,channel,t,label" "all samples"
                let labels = Path.Combine (root, "l.gz")
                File.WriteAllBytes (labels, gzip (idxBytes [ 2 ] [| 3uy; 1uy |]))
                Expect.equal (dump [| "dump"; "--format"; "idx"; labels |]) [ "label"; "3"; "1" ] "IDX labels"
            finally Directory.Delete (root, true)
        }
        test "a malformed file ends with exit code 2 and one line, not an exception" {
            let root = tempFolder "cli-bad"
            try
                let path = Path.Combine (root, "bad.bin")
                File.WriteAllBytes (path, [| 1uy; 2uy; 3uy |])
                use out = new StringWriter ()
                Expect.equal (DataCommand.execute [| "dump"; "--format"; "nmnist"; path |] out) 2 "exit code 2"
            finally Directory.Delete (root, true)
        }
        test "frames writes the integrated sample as .npy" {
            let root = tempFolder "cli-frames"
            try
                let path = Path.Combine (root, "c.aedat")
                File.WriteAllBytes (path, aedat2 [ for k in 0 .. 99 -> { X = k; Y = 127 - k; T = int64 k; On = k % 2 = 0 } ])
                let out = Path.Combine (root, "f.npy")
                let message = run [| "frames"; "--format"; "cifar10dvs"; path; "--out"; out; "--frames"; "4"; "--downsample"; "2" |]
                Expect.stringContains message.[0] "[4; 2; 64; 64]" "says what it wrote"
                let read = Npy.read out
                Expect.equal read.Shape [| 4L; 2L; 64L; 64L |] "[T; 2; 64; 64]"
                Expect.equal (Array.sum read.Values) 100.0 "every event"
            finally Directory.Delete (root, true)
        }
    ]
