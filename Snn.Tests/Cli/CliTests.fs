/// The `snn` command line, run in-process with its output captured.
module Snn.Tests.CliTests

open System
open System.IO
open System.Globalization
open Expecto
open Snn.Tests.Assertions

/// Runs `snn` in-process (see `Assertions.runSnn`).
let private snn (args: string list) = runSnn args

let private rows (csv: string) =
    csv.Split ('\n', StringSplitOptions.RemoveEmptyEntries)
    |> Array.map (fun line -> line.Trim().Split ',')

let tests =
    testList "CLI" [
        test "simulate lif prints t,v,spike and matches the analytic charge curve" {
            let code, out, _ = snn [ "simulate"; "--model"; "lif"; "--param"; "TauMem=10"; "--param"; "VThreshold=100"; "--input"; "constant:1.5"; "--steps"; "20" ]
            Expect.equal code 0 "exit code"
            let table = rows out
            Expect.equal table.[0] [| "t"; "v"; "spike"; "refractory" |] "header"
            Expect.equal table.Length 21 "20 steps"
            for k in 1 .. 20 do
                let v = Double.Parse (table.[k].[1], CultureInfo.InvariantCulture)
                Expect.floatClose Accuracy.high v (1.5 * (1.0 - Math.Exp (-0.1 * float k))) $"v at step {k}"
        }
        test "simulate izhikevich with a preset and a step input spikes only after the step" {
            let code, out, _ = snn [ "simulate"; "--model"; "izhikevich"; "--preset"; "FS"; "--input"; "step:50:10"; "--steps"; "200" ]
            Expect.equal code 0 "exit code"
            let spikes = rows out |> Array.skip 1 |> Array.filter (fun r -> r.[2] = "1") |> Array.map (fun r -> Double.Parse (r.[0], CultureInfo.InvariantCulture))
            Expect.isGreaterThan spikes.Length 5 "fires repeatedly"
            Expect.isGreaterThan spikes.[0] 50.0 "not before the step"
        }
        test "simulate reads an input file and reports a bad line with its number" {
            let path = Path.Combine (Path.GetTempPath (), $"snn-input-{Guid.NewGuid ():N}.csv")
            File.WriteAllLines (path, [| "input"; "0"; "5"; "oops" |])
            let code, _, err = snn [ "simulate"; "--model"; "if"; "--input"; $"spikes:{path}" ]
            Expect.equal code 2 "exit code"
            Expect.stringContains err "data line 3" "names the line"
            File.WriteAllLines (path, [| "input"; "0.6"; "0.6"; "0" |])
            let code, out, _ = snn [ "simulate"; "--model"; "if"; "--input"; $"spikes:{path}" ]
            Expect.equal code 0 "exit code"
            Expect.equal (rows out |> Array.skip 1 |> Array.map (fun r -> r.[2])) [| "0"; "1"; "0" |] "spike on the second step"
        }
        test "unknown parameters and models are refused with the known names" {
            let code, _, err = snn [ "simulate"; "--model"; "lif"; "--param"; "bogus=1"; "--input"; "constant:1" ]
            Expect.equal code 2 "exit code"
            Expect.stringContains err "TauMem" "lists the known parameters"
            let code, _, err = snn [ "simulate"; "--model"; "nope"; "--input"; "constant:1" ]
            Expect.equal code 2 "exit code"
            Expect.stringContains err "izhikevich" "lists the known models"
        }
        test "snn experiment --dataset runs the chosen dataset only and refuses unknown names" {
            inTemporaryFolder (fun dir ->
                let code, out, err = snn [ "experiment"; "--suite"; "auxilearn"; "--quick"; "--seeds"; "0"; "--dataset"; "event-fashion-mnist"; "--threads"; "1"; "--out"; dir ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.stringContains out "moving-patterns: not chosen by --dataset" "the skip is said"
                Expect.isFalse (Directory.Exists (Path.Combine (dir, "auxilearn")) && Directory.GetFiles(Path.Combine (dir, "auxilearn"), "*moving*").Length > 0) "no moving-patterns table"
                let code, _, err = snn [ "experiment"; "--suite"; "tmsnn"; "--quick"; "--dataset"; "mnist"; "--out"; dir ]
                Expect.equal code 2 "exit code"
                Expect.stringContains err "'mnist' is none of moving-patterns, event-fashion-mnist" "the known names are listed")
        }
        test "every command reports an error as one line with the one prefix and a non-zero exit code" {
            inTemporaryFolder (fun dir ->
                let missing = Path.Combine (dir, "missing", "file.bin")
                let cases =
                    [ [ "data"; "dump"; "--format"; "nmnist"; dir ]
                      [ "data"; "dump"; "--format"; "nmnist"; missing ]
                      [ "loihi"; "run"; dir; "--steps"; "3" ]
                      [ "loihi"; "validate"; missing ]
                      [ "train"; "--config"; missing; "--print-config" ]
                      [ "train"; "--no-such-flag" ]
                      [ "simulate"; "--model"; "lif"; "--input"; "spikes:" + missing ]
                      [ "tmsnn"; "--epochs"; "x" ] ]
                for args in cases do
                    let code, _, err = snn args
                    expectOneLineError (String.Join (" ", args)) (code, err)
                    Expect.isFalse (err.Contains "   at ") "no stack trace without --verbose")
        }
        test "--verbose adds the stack trace after the one-line message" {
            inTemporaryFolder (fun dir ->
                let code, _, err = snn [ "data"; "dump"; "--format"; "nmnist"; dir; "--verbose" ]
                Expect.equal code 2 "exit code"
                Expect.stringStarts err $"snn: {dir}: is a folder, not a file" "the message first"
                Expect.stringContains err "   at " "then the stack trace")
        }
    ]
