/// The words every `snn` command shares (issue 16): `--out`, the hidden old names, `--config` / `--set` on the flag
/// commands, run folders, per-subcommand help, and progress as plain lines or a Spectre.Console bar.
module Snn.Tests.VocabularyTests

open System
open System.IO
open Argu
open Expecto
open Spectre.Console
open Snn.Cli
open Snn.Tests.Assertions

/// `snn ... --help`: Argu's usage goes to standard error with exit code 0.
let private help (args: string list) : string =
    let code, _, err = runSnn (args @ [ "--help" ])
    Expect.equal code 0 "--help exits 0"
    err

let private parse<'T when 'T :> IArgParserTemplate> (args: string list) : ParseResults<'T> =
    (ArgumentParser.Create<'T> ()).ParseCommandLine (Array.ofList args)

let tests =
    testList "CLI vocabulary" [
        test "loihi subcommands list only their own options; experiment --help lists the suites" {
            let import = help [ "loihi"; "import" ]
            Expect.stringContains import "<path>" "the network"
            for other in [ "--steps"; "--out"; "--png"; "--dt" ] do Expect.isFalse (import.Contains other) $"import has no {other}"
            let profile = help [ "loihi"; "profile" ]
            for own in [ "--png"; "--loihi2"; "--threshold-scales"; "--steps" ] do Expect.stringContains profile own $"profile has {own}"
            for other in [ "--out"; "--dt" ] do Expect.isFalse (profile.Contains other) $"profile has no {other}"
            let run = help [ "loihi"; "run" ]
            for own in [ "--out"; "--dt"; "--input" ] do Expect.stringContains run own $"run has {own}"
            Expect.isFalse (run.Contains "--png") "run has no --png"
            Expect.isFalse (run.Contains "--output") "the old name is hidden"
            let experiment = help [ "experiment" ]
            for suite, _, _ in ExperimentCommand.suites do Expect.stringContains experiment suite $"suite {suite} listed"
        }
        test "the old names --output, --report and --data-folder still work for one release, with a note" {
            inTemporaryFolder (fun dir ->
                let target = Path.Combine (dir, "copy.net")
                let code, out, err = runSnn [ "loihi"; "export"; fixture "lava-netx/tiny.net"; "--output"; target ]
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.isTrue (File.Exists target) "written under the old name"
                Expect.stringContains out "wrote" "the export is announced"
                Expect.stringContains err "snn: note: --output is now called --out" "the rename is said"
                let code, _, err = runSnn [ "loihi"; "export"; fixture "lava-netx/tiny.net" ]
                expectOneLineError "export without --out" (code, err)
                Expect.stringContains err "--out" "names the option")
        }
        test "--config and --set on the flag commands: file < flags < --set; lists and switches; errors name file and line" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "run.yaml")
                File.WriteAllText (path, "epochs: 3\nbatch_size: 16\ngamma: 0.1\nthresholds: [1.25, 2.5]\n")
                let args = Vocabulary.layered (parse<TmSnnCommand.TmSnnArgs> [ "--config"; path; "--epochs"; "7"; "--set"; "gamma=0.5" ])
                Expect.equal (args.GetResult TmSnnCommand.Epochs) 7 "a flag beats the file"
                Expect.equal (args.GetResult TmSnnCommand.Batch_Size) 16 "the file fills what no flag gives"
                Expect.equal (args.GetResult TmSnnCommand.Gamma) 0.5 "--set beats both"
                Expect.equal (args.GetResult TmSnnCommand.Thresholds) "1.25,2.5" "a YAML list is the comma list"
                let yaml = Vocabulary.effectiveYaml args
                Expect.stringContains yaml "epochs: 7\n" "the effective value is kept"
                Expect.isFalse (yaml.Contains "epochs: 3") "once"
                File.WriteAllText (path, "adaptive: true\nfeatures: [8, 16]\n")
                let stdp = Vocabulary.layered (parse<StdpCommand.StdpArgs> [ "--config"; path ])
                Expect.isTrue (stdp.Contains StdpCommand.Adaptive) "true turns a switch on"
                Expect.equal (stdp.GetResult StdpCommand.Features) "8,16" "a list option"
                File.WriteAllText (path, "batch_size: 16\nepochs: many\n")
                let e = Expect.throwsC (fun () -> Vocabulary.layered (parse<TmSnnCommand.TmSnnArgs> [ "--config"; path ]) |> ignore) id
                Expect.stringContains e.Message $"{path}:2: key 'epochs'" "file, line and key"
                File.WriteAllText (path, "epoch: 3\n")
                let code, _, err = runSnn [ "tmsnn"; "--config"; path ]
                expectOneLineError "unknown key" (code, err)
                Expect.stringContains err $"{path}:1: key 'epoch'" "names the key and its line"
                let code, _, err = runSnn [ "tmsnn"; "--set"; "epochs=x" ]
                expectOneLineError "bad --set" (code, err)
                Expect.stringContains err "--set epochs=x: key 'epochs'" "names the override")
        }
        test "a run folder runs/<command>-<timestamp> unless --out names one" {
            Expect.equal (Vocabulary.runFolder "train" (Some "mine")) "mine" "--out wins"
            let folder = Vocabulary.runFolder "tmsnn" None
            Expect.isMatch (folder.Replace ('\\', '/')) @"^runs/tmsnn-\d{8}-\d{6}(-\d+)?$" "command and timestamp"
        }
        test "progress: plain lines with rate and ETA at each quarter; a live bar on a terminal with lines above it" {
            Expect.equal (RunOutput.plainLine 3 5 8 0.5 2.0) "epoch   3: 5/8 batches, 2.0 batches/s, ETA 1.5 s, loss 0.5000" "rate over the batches after the first"
            Expect.stringContains (RunOutput.plainLine 1 1 8 0.5 0.0) "- batches/s, ETA - s" "unknown after one batch"
            inTemporaryFolder (fun dir ->
                let captured = new StringWriter ()
                let original = Console.Out
                Console.SetOut captured
                try RunOutput.withProgress None (fun onBatch -> for b in 1 .. 8 do onBatch (1, b, 8, 0.25))
                finally Console.SetOut original
                let lines = captured.ToString().Split ('\n', StringSplitOptions.RemoveEmptyEntries)
                Expect.equal (lines |> Array.map (fun l -> l.Substring (0, l.IndexOf " batches"))) [| "epoch   1: 2/8"; "epoch   1: 4/8"; "epoch   1: 6/8"; "epoch   1: 8/8" |] "one line per quarter"
                let terminal = new StringWriter ()
                let console = AnsiConsole.Create (AnsiConsoleSettings (Ansi = AnsiSupport.Yes, ColorSystem = ColorSystemSupport.Standard, Interactive = InteractionSupport.Yes, Out = AnsiConsoleOutput terminal))
                let log = Path.Combine (dir, "log.txt")
                Console.SetOut captured
                try
                    RunOutput.withLog log (fun () ->
                        RunOutput.withProgress (Some console) (fun onBatch ->
                            for b in 1 .. 3 do onBatch (2, b, 6, 0.75)
                            printfn "a line printed while the bar is live"))
                finally Console.SetOut original
                let drawn = terminal.ToString ()
                Expect.stringContains drawn "a line printed while the bar is live" "the line reaches the terminal through the live console"
                Expect.stringContains drawn "batches/s loss 0.7500" "the bar's description"
                Expect.stringContains drawn "\u001b[" "drawn with ANSI sequences"
                // Contains, not equals: Expecto's own logger may write to standard output from its thread meanwhile.
                let kept = File.ReadAllText log
                Expect.stringContains kept "a line printed while the bar is live" "the log holds the line"
                Expect.isFalse (kept.Contains "\u001b[" || kept.Contains "batches/s") "but not the bar")
        }
    ]
