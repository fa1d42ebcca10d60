/// Experiment configurations: JSON and YAML files (YamlDotNet: anchors, merge keys, flow style, lists), overrides, precedence, errors naming key and source,
/// the translation to trainer settings, and `snn train --config ... --set ... --print-config`.
module Snn.Tests.ConfigTests

open System
open System.IO
open Expecto
open Snn
open Snn.Tests.Assertions

let private schema = TrainConfig.schema

let private values (config: Map<string, ConfigEntry>) = config |> Map.map (fun _ e -> e.Value)

let private expectInvalid (f: unit -> 'a) (fragments: string list) =
    let e = Expect.throwsC (fun () -> f () |> ignore) id
    for fragment in fragments do Expect.stringContains e.Message fragment $"message names {fragment}"
    e

let private temporaryFile (name: string) (text: string) =
    let dir = Path.Combine (Path.GetTempPath (), $"snn-config-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    let path = Path.Combine (dir, name)
    File.WriteAllText (path, text)
    path

let private json = """{
  // a comment
  "epochs": 7,
  "optimizer": { "name": "AdamW", "lr": 2e-3, "weight_decay": 0 },
  "schedule": { "name": "cosine", "min_lr": 1e-5 },
  "clip_grad_norm": 1,
  "checkpoint": { "dir": "runs/a", "resume": true },
}"""

let tests =
    testList "Config" [
        test "JSON: nested keys flatten to dotted ones with their line; integers widen to reals; choices are lower-cased" {
            let raw = Config.parseJson "run.json" json
            Expect.equal raw.["optimizer.lr"] { Value = Real 2e-3; Source = "run.json:4" } "nested key with its line"
            Expect.equal raw.["epochs"].Value (Integer 7L) "integer"
            let config = Config.resolve schema [ raw ]
            Expect.equal config.["clip_grad_norm"].Value (Real 1.0) "integer widened to a real"
            Expect.equal config.["optimizer.name"].Value (Text "adamw") "choice lower-cased"
            Expect.equal config.["batch_size"] { Value = Integer 32L; Source = "default" } "unset keys keep their default"
        }
        test "round trip: the effective configuration printed as JSON or YAML reads back to the same values" {
            let config = Config.resolve schema [ Config.parseJson "run.json" json; Config.overrides schema [ "threads=3"; "early_stopping.patience=null" ] ]
            let printed = Config.toJson schema config
            Expect.equal (values (Config.resolve schema [ Config.parseJson "printed.json" printed ])) (values config) "JSON"
            let yaml = Config.toYaml schema config
            Expect.stringContains yaml "optimizer:\n  name: \"adamw\"\n  lr: 0.002\n" "nested YAML"
            Expect.equal (values (Config.resolve schema [ Config.parseYaml "printed.yaml" yaml ])) (values config) "YAML"
        }
        test "precedence: defaults < file < command-line flags < --set, and each value remembers its source" {
            let file = Config.parseYaml "run.yaml" "epochs: 2\noptimizer:\n  lr: 0.5   # comment\n  name: sgd\nseed: 4\n"
            let flags = Map.ofList [ "epochs", { Value = Integer 5L; Source = "--epochs" }; "seed", { Value = Integer 6L; Source = "--seed" } ]
            let config = Config.resolve schema [ file; flags; Config.overrides schema [ "epochs=3"; "optimizer.lr=1e-3" ] ]
            Expect.equal (Config.integer config "epochs") 3 "--set beats flag and file"
            Expect.equal (Config.sourceOf config "epochs") "--set epochs=3" "source of the override"
            Expect.equal (Config.real config "optimizer.lr") 1e-3 "--set beats file"
            Expect.equal (Config.integer config "seed") 6 "flag beats file"
            Expect.equal (Config.text config "optimizer.name") "sgd" "file beats default"
            Expect.equal (Config.sourceOf config "optimizer.name") "run.yaml:4" "YAML line"
            Expect.equal (Config.integer config "data.frames") 20 "default"
            Expect.equal (Config.integer (Config.resolve schema [ file; Map.empty ]) "epochs") 2 "without overrides the file decides"
        }
        test "an unknown key is an error naming the key, the file and line, and the closest known key" {
            let raw = Config.parseJson "run.json" "{\n  \"optimizer\": {\n    \"lrate\": 0.1 } }"
            expectInvalid (fun () -> Config.check schema raw) [ "run.json:3"; "'optimizer.lrate'"; "did you mean 'optimizer.lr'" ] |> ignore
            expectInvalid (fun () -> Config.overrides schema [ "epoch=3" ]) [ "--set epoch=3"; "unknown key 'epoch'"; "'epochs'" ] |> ignore
        }
        test "a value of the wrong type is an error naming the key, what it expects and what it got" {
            let e = expectInvalid (fun () -> Config.check schema (Config.parseJson "run.json" "{\n\"epochs\": \"many\"\n}")) [ "run.json:2: key 'epochs' expects an integer, got the text \"many\"" ]
            Expect.isTrue (e :? InvalidDataException) "InvalidDataException"
            expectInvalid (fun () -> Config.check schema (Config.parseJson "run.json" "{\"epochs\": 2.5}")) [ "expects an integer"; "2.5" ] |> ignore
            expectInvalid (fun () -> Config.overrides schema [ "optimizer.name=rmsprop" ]) [ "'optimizer.name' expects one of adam, adamw, sgd"; "rmsprop" ] |> ignore
            expectInvalid (fun () -> Config.overrides schema [ "epochs=null" ]) [ "'epochs' expects an integer, got null" ] |> ignore
            expectInvalid (fun () -> Config.overrides schema [ "epochs" ]) [ "not a key=value assignment" ] |> ignore
        }
        test "syntax errors give the line and byte (JSON) or line and column (YAML); nested lists are refused with their line" {
            expectInvalid (fun () -> Config.parseJson "bad.json" "{\n  \"epochs\": 2,\n  \"seed\": }") [ "bad.json: JSON syntax error at line 3, byte 11" ] |> ignore
            expectInvalid (fun () -> Config.parseJson "bad.json" "{\"a\": [1, [2]]}") [ "bad.json:1"; "'a' holds a list of lists" ] |> ignore
            expectInvalid (fun () -> Config.parseJson "bad.json" "{\"seed\": 1, \"seed\": 2}") [ "'seed' is set twice" ] |> ignore
            expectInvalid (fun () -> Config.parseYaml "bad.yaml" "epochs: 2\nlayers:\n  - a: 3\n") [ "bad.yaml:3"; "'layers' holds a list item that is not a number or text" ] |> ignore
            expectInvalid (fun () -> Config.parseYaml "bad.yaml" "epochs: 2\noptimizer: {lr: 0.1\nseed: 3\n") [ "bad.yaml:"; "YAML error" ] |> ignore
            expectInvalid (fun () -> Config.parseYaml "bad.yaml" "epochs: 2\nseed: [1, 2\n") [ "bad.yaml:"; "YAML error, column" ] |> ignore
            expectInvalid (fun () -> Config.parseYaml "bad.yaml" "epochs: 2\nepochs: 3\n") [ "bad.yaml:2"; "epochs" ] |> ignore
            expectInvalid (fun () -> Config.parseYaml "bad.yaml" "- 1\n- 2\n") [ "bad.yaml:1"; "must be a mapping" ] |> ignore
            let raw = Config.parseYaml "ok.yaml" "checkpoint:\n  dir:\n  resume: false\nname: 'it''s'\n"
            Expect.equal raw.["checkpoint.dir"].Value Null "an empty key is null"
            Expect.equal raw.["name"].Value (Text "it's") "single-quoted text"
        }
        test "YAML through YamlDotNet: anchors and merge keys, flow mappings and lists, block lists; sources keep the line" {
            let yaml =
                String.concat "\n"
                    [ "base: &common"
                      "  lr: 0.25"
                      "  name: sgd"
                      "optimizer:"
                      "  <<: *common"
                      "  name: adamw"
                      "schedule: {name: step, every: 3, factor: 0.5}"
                      "thresholds: [1.25, 2.5, 5]"
                      "features:"
                      "  - 16"
                      "  - 48"
                      "seed: *seed_anchor" ]
            // An alias to an anchor that is never defined is an error with its line.
            expectInvalid (fun () -> Config.parseYaml "run.yaml" yaml) [ "run.yaml:12" ] |> ignore
            let raw = Config.parseYaml "run.yaml" (yaml.Replace ("seed: *seed_anchor", "seed: &s 4\nepochs: *s"))
            Expect.equal raw.["optimizer.lr"].Value (Real 0.25) "the merged anchor's value"
            Expect.equal raw.["optimizer.name"].Value (Text "adamw") "a key beside the merge overrides it"
            Expect.equal raw.["schedule.every"].Value (Integer 3L) "flow mapping"
            Expect.equal (Config.sourceOf raw "schedule.every") "run.yaml:7" "a flow mapping's keys carry its line"
            Expect.equal raw.["thresholds"].Value (Text "1.25,2.5,5") "a flow list is the command line's comma list"
            Expect.equal raw.["features"].Value (Text "16,48") "a block list too"
            Expect.equal (Config.sourceOf raw "features") "run.yaml:9" "the list's key line"
            Expect.equal raw.["epochs"].Value (Integer 4L) "an alias of a scalar"
            let config = Config.resolve schema [ raw |> Map.filter (fun k _ -> k.StartsWith "optimizer." || k.StartsWith "schedule." || k = "epochs" || k = "seed") ]
            Expect.equal (TrainConfig.trainerSettings config).Schedule (Training.StepDecay (3, 0.5)) "the flow mapping reaches the trainer"
            let json = Config.parseJson "run.json" "{\"thresholds\": [1.25, 2.5], \"names\": [\"a\", \"b\"]}"
            Expect.equal json.["thresholds"].Value (Text "1.25,2.5") "JSON lists read the same way"
            Expect.equal json.["names"].Value (Text "a,b") "lists of text"
        }
        test "trainer settings follow the configuration; out-of-range values name their key and source" {
            let settings = TrainConfig.trainerSettings (Config.resolve schema [ Config.parseJson "run.json" json ])
            Expect.equal settings.Epochs 7 "epochs"
            Expect.equal settings.Optimizer (Training.AdamW 0.0) "AdamW with its decay"
            Expect.equal settings.Schedule (Training.Cosine 1e-5) "cosine schedule"
            Expect.equal settings.ClipGradientNorm (Some 1.0) "clipping"
            Expect.equal settings.CheckpointDirectory (Some "runs/a") "checkpoint directory"
            Expect.isTrue settings.Resume "resume"
            Expect.equal settings.EarlyStoppingPatience None "no early stopping"
            let bad sets = TrainConfig.trainerSettings (Config.resolve schema [ Config.overrides schema sets ])
            let e = expectInvalid (fun () -> bad [ "batch_size=0" ]) [ "--set batch_size=0: key 'batch_size' must be > 0" ]
            Expect.equal (e :?> ArgumentException).ParamName "batch_size" "ParamName is the key"
            expectInvalid (fun () -> bad [ "optimizer.name=sgd"; "optimizer.momentum=1.5" ]) [ "key 'optimizer.momentum' must lie in [0, 1)" ] |> ignore
            expectInvalid (fun () -> bad [ "checkpoint.resume=true" ]) [ "key 'checkpoint.resume'"; "checkpoint.dir" ] |> ignore
            expectInvalid (fun () -> TrainConfig.lifNeuron (Config.resolve schema [ Config.overrides schema [ "neuron.tau_mem=0" ] ]) 1.0) [ "key 'neuron.tau_mem'" ] |> ignore
        }
        test "the calibration keys choose the trainer's calibrated initialisation; a rate outside (0, 1) names its key" {
            let settings sets = TrainConfig.trainerSettings (Config.resolve schema [ Config.overrides schema sets ])
            Expect.equal (settings []).Calibration Training.TrainerSettings.Default.Calibration "by default the trainer's own"
            Expect.equal (settings [ "calibration.mode=none" ]).Calibration Modules.NoCalibration "switched off"
            Expect.equal (settings [ "calibration.mode=every-layer"; "calibration.rate=0.05" ]).Calibration (Modules.EveryLayer 0.05) "LSUV"
            Expect.equal (settings [ "calibration.rate=0.005" ]).Calibration (Modules.SilentLayers 0.005) "silent layers at another rate"
            let e = expectInvalid (fun () -> settings [ "calibration.rate=1.5" ]) [ "--set calibration.rate=1.5: key 'calibration.rate'"; "(0, 1)" ]
            Expect.equal (e :?> ArgumentException).ParamName "calibration.rate" "ParamName is the key"
            // Through the command: the uncalibrated run logs no calibrated initialisation, the default one does.
            inTemporaryFolder (fun folder ->
                let train (name: string) (sets: string list) =
                    let code, _, err =
                        runSnn ([ "train"; "--epochs"; "1"; "--train-samples"; "16"; "--test-samples"; "8"; "--frames"; "6"; "--hidden"; "16"
                                  "--batch-size"; "16"; "--threads"; "1"; "--out"; Path.Combine (folder, name) ]
                                @ [ for s in sets do yield! [ "--set"; s ] ])
                    Expect.equal code 0 $"exit code (stderr: {err})"
                    err
                Expect.stringContains (train "default" []) "calibrated initialisation: fc1" "the default run calibrates its silent layers"
                Expect.isFalse ((train "uncalibrated" [ "calibration.mode=none" ]).Contains "calibrated initialisation") "calibration.mode=none leaves the weights alone")
        }
        test "snn train --config FILE --set KEY=VALUE --print-config prints the merged configuration as JSON" {
            let path = temporaryFile "run.json" json
            try
                let code, out, err = runSnn [ "train"; "--config"; path; "--epochs"; "9"; "--set"; "epochs=3"; "--set"; "optimizer.lr=1e-3"; "--print-config" ]
                Expect.equal code 0 $"exit code (stderr: {err})"
                let printed = Config.resolve schema [ Config.parseJson "stdout" out ]
                Expect.equal (Config.integer printed "epochs") 3 "--set wins over --epochs and the file"
                Expect.equal (Config.real printed "optimizer.lr") 1e-3 "override"
                Expect.equal (Config.text printed "schedule.name") "cosine" "from the file"
                let code, _, err = runSnn [ "train"; "--config"; path; "--set"; "optimiser.lr=1"; "--print-config" ]
                Expect.equal code 2 "bad key: exit code 2"
                Expect.stringContains err "unknown key 'optimiser.lr'" "message"
            finally Directory.Delete (Path.GetDirectoryName path, true)
        }
    ]
