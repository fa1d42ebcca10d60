/// NetX import checked against Lava's recorded run of lava-dl's tiny.net (fixtures/lava-netx, see its README).
module Snn.Tests.LoihiNetxTests

open System
open System.IO
open Expecto
open Snn.Data
open Snn.Loihi
open Snn.Tests.Assertions

/// Lava's input bias is stored (W, H, C); the emulator numbers neurons (C, H, W).
let private inputBiasChw () =
    let a = Npy.read (fixture "lava-netx/tinynet/input_bias.npy")
    let w, h, c = int a.Shape.[0], int a.Shape.[1], int a.Shape.[2]
    Array.init (c * h * w) (fun i ->
        let ch, y, x = i / (h * w), i / w % h, i % w
        int a.Values.[(x * h + y) * c + ch])

/// Runs tiny.net as lava-dl's test does: 17 + layers steps, u and v reset every 17 steps.
let tinynetRun (network: Network) =
    Emulator.run network (InputBias (inputBiasChw ()))
        { RunOptions.For (17 + network.Layers.Length) with ResetInterval = Some 17 }

/// Output spikes at steps 3..17 against output.npy[0][c, 0, 0, 1..15]; returns the number of mismatches.
let tinynetSpikeError (result: RunResult) =
    let gt = Npy.read (fixture "lava-netx/tinynet/output.npy")
    let channels, frames = int gt.Shape.[1], int gt.Shape.[4]
    let output = result.Spikes.[result.Spikes.Length - 1]
    [ for c in 0 .. channels - 1 do
        for k in 1 .. frames - 1 do
            let expected = gt.Values.[c * frames + k] > 0.5
            let actual = output.[k + 1].[c]
            if expected <> actual then yield (c, k) ]

let tests =
    testList "Loihi NetX" [
        test "tiny.net reads as Lava's loader maps it" {
            let net = Netx.read (fixture "lava-netx/tiny.net")
            Expect.equal (net.Layers |> Array.map (fun l -> l.Shape)) [| [| 3; 16; 16 |]; [| 24; 6; 6 |]; [| 36; 1; 1 |] |] "shapes"
            let n = net.Layers.[1].Neurons
            Expect.equal (n.Du, n.Dv, n.Vth, n.BiasExp) (4095, 1024, 25, 6) "du = iDecay - 1, dv = vDecay, vth = vThMant, bias_exp = 6"
            Expect.equal n.BiasMant.[1 * 36] -42 "channel bias broadcast over the channel's 6x6 neurons"
        }
        test "tiny.net reproduces Lava's output spikes exactly" {
            let net = Netx.read (fixture "lava-netx/tiny.net")
            let result = tinynetRun net
            let errors = tinynetSpikeError result
            Expect.isEmpty errors "(channel, frame) pairs whose spike differs from Lava's"
            let total = result.Spikes.[2] |> Array.sumBy (Array.sumBy (fun s -> if s then 1 else 0))
            Expect.isGreaterThan total 0 "the output layer spikes"
        }
        test "tiny.net's hidden layer matches slayer's recorded layer1 spikes" {
            let result = tinynetRun (Netx.read (fixture "lava-netx/tiny.net"))
            let gt = Npy.read (fixture "lava-netx/tinynet/layer1.npy")   // (1, C, H, W, T), slayer's frame k = step k + 1
            let frames = int gt.Shape.[4]
            let neurons = gt.Count / frames
            let mismatches =
                [ for i in 0 .. neurons - 1 do
                    for k in 1 .. frames - 1 do
                        if (gt.Values.[i * frames + k] > 0.5) <> result.Spikes.[1].[k].[i] then yield (i, k) ]
            Expect.isEmpty mismatches "(neuron, frame) pairs that differ"
        }
        test "the comparison is sensitive: without the reset interval the output differs" {
            let net = Netx.read (fixture "lava-netx/tiny.net")
            let result = Emulator.run net (InputBias (inputBiasChw ())) (RunOptions.For (17 + net.Layers.Length))
            Expect.isNonEmpty (tinynetSpikeError result) "a run that keeps the start-up transient must not match"
        }
        test "NetX -> Snn -> NetX re-imports identically and still reproduces Lava" {
            let net = Netx.read (fixture "lava-netx/tiny.net")
            let path = Path.Combine (Path.GetTempPath (), $"snn-netx-{Guid.NewGuid ()}.net")
            try
                Netx.write path net
                Expect.isEmpty (Netx.validateFile path) "the written file passes the validator"
                let again = Netx.read path
                Expect.equal again net "identical network"
                Expect.isEmpty (tinynetSpikeError (tinynetRun again)) "zero spike error after the round trip"
            finally File.Delete path
        }
        test "dense networks with delays and flatten round-trip" {
            let conv = { InChannels = 1; InHeight = 4; InWidth = 4; OutChannels = 2; KernelHeight = 3; KernelWidth = 3; StrideH = 1; StrideW = 1
                         PaddingH = 1; PaddingW = 1; DilationH = 1; DilationW = 1; Groups = 1 }
            let neurons n : LayerNeurons = { Du = 1023; Dv = 512; Vth = 40; BiasExp = 6; BiasMant = Array.init n (fun i -> i % 3 * 2) }
            let net =
                { Layers =
                    [| { Name = "0"; Shape = [| 1; 4; 4 |]; Neurons = { neurons 16 with BiasMant = Array.zeroCreate 16 }; Incoming = None; WeightExp = 0; Delays = None; Recurrent = None }
                       { Name = "1"; Shape = [| 2; 4; 4 |]; Neurons = { neurons 32 with BiasMant = Array.init 32 (fun i -> i / 16 * 4) }
                         Incoming = Some (Conv (conv, Array.init 18 (fun i -> (i - 9) * 2))); WeightExp = 0; Delays = None; Recurrent = None }
                       { Name = "3"; Shape = [| 5 |]; Neurons = neurons 5; Incoming = Some (Dense (32, Array.init 160 (fun i -> (i % 7 - 3) * 2)))
                         WeightExp = 0; Delays = Some [| 0; 1; 2; 3; 62 |]; Recurrent = None } |] }
            let path = Path.Combine (Path.GetTempPath (), $"snn-netx-{Guid.NewGuid ()}.net")
            try
                Netx.write path net
                Expect.equal (Netx.read path) net "identical network (layer 3 is named after its file index, after the flatten layer)"
            finally File.Delete path
        }
        test "the validator lists every violation and the writer refuses an all-zero weight matrix" {
            let tree = Hdf5Tree.read (fixture "lava-netx/tiny.net")
            Expect.isEmpty (Netx.violations tree) "tiny.net is valid"
            let bad =
                match tree with
                | Group root ->
                    let layers = match root.["layer"] with Group g -> g | _ -> failwith "layer"
                    let l1 = match layers.["1"] with Group g -> g | _ -> failwith "1"
                    let w = match l1.["weight"] with Dataset d -> d | _ -> failwith "weight"
                    let odd = { w with Values = Float32s (Array.init w.Values.Count (fun i -> if i = 3 then 3.0f elif i = 4 then 400.0f else 2.0f * float32 (i % 5 - 2))) }
                    let neuron = match l1.["neuron"] with Group g -> g | _ -> failwith "neuron"
                    let l1' = l1.Add("weight", Dataset odd).Add("delay", Dataset (Hdf5Tree.vector (Float32s [| 63.0f |]))).Add("neuron", Group (neuron.Add ("iDecay", Dataset (Hdf5Tree.scalar (Int64s [| 5000L |])))))
                    let l2 = match layers.["2"] with Group g -> g | _ -> failwith "2"
                    let w2 = match l2.["weight"] with Dataset d -> d | _ -> failwith "weight"
                    let l2' = l2.Add ("weight", Dataset { w2 with Values = Float32s (Array.zeroCreate w2.Values.Count) })
                    Group (root.Add ("layer", Group (layers.Add("1", Group l1').Add ("2", Group l2'))))
                | _ -> failwith "root"
            let problems = Netx.violations bad
            for expected in [ "layer/1/weight[3]: 3 is odd"; "layer/1/weight[4]: 400 lies outside"; "layer/1/delay[0]"; "layer/1/neuron/iDecay"; "layer/2/weight: all weights are zero" ] do
                Expect.isTrue (problems |> List.exists (fun p -> p.Contains expected)) $"reports '{expected}' in %A{problems}"
            let net = Netx.read (fixture "lava-netx/tiny.net")
            let zeroed = { net with Layers = net.Layers |> Array.mapi (fun i l -> if i = 2 then { l with Incoming = l.Incoming |> Option.map (function Conv (g, w) -> Conv (g, Array.zeroCreate w.Length) | c -> c) } else l) }
            let e = Expect.throwsC (fun () -> Netx.toTree zeroed |> ignore) id
            Expect.stringContains e.Message "all weights are zero" "names the rule"
        }
        test "the validator accepts lava-dl's 1-D dense weights and refuses a dense layer without a neuron group" {
            let neurons n : LayerNeurons = { Du = 1023; Dv = 512; Vth = 40; BiasExp = 6; BiasMant = Array.zeroCreate n }
            let net =
                { Layers =
                    [| { Name = "0"; Shape = [| 4 |]; Neurons = neurons 4; Incoming = None; WeightExp = 0; Delays = None; Recurrent = None }
                       { Name = "1"; Shape = [| 3 |]; Neurons = neurons 3; Incoming = Some (Dense (4, Array.init 12 (fun i -> (i % 5 - 2) * 2)))
                         WeightExp = 0; Delays = None; Recurrent = None } |] }
            let layer1 (edit: Map<string, H5Node> -> Map<string, H5Node>) =
                match Netx.toTree net with
                | Group root ->
                    let layers = match root.["layer"] with Group g -> g | _ -> failwith "layer"
                    let l1 = match layers.["1"] with Group g -> g | _ -> failwith "1"
                    Group (root.Add ("layer", Group (layers.Add ("1", Group (edit l1)))))
                | _ -> failwith "root"
            let flat = layer1 (fun l -> match l.["weight"] with Dataset d -> l.Add ("weight", Dataset { d with Shape = [| 12L |] }) | _ -> failwith "weight")
            Expect.isEmpty (Netx.violations flat) "a (neurons x inputs) weight stored 1-D is valid"
            let ragged = layer1 (fun l -> match l.["weight"] with Dataset d -> l.Add ("weight", Dataset { Shape = [| 10L |]; Values = Float32s (Array.create 10 2.0f) }) | _ -> failwith "weight")
            Expect.exists (Netx.violations ragged) (fun p -> p.Contains "layer/1/weight: 10 values are not a whole number of rows") "a 1-D weight that is not whole rows"
            let headless = layer1 (fun l -> l.Remove "neuron")
            Expect.contains (Netx.violations headless) "layer/1/neuron: missing" "a dense layer needs its neuron group"
        }
        test "unsupported layers and neurons are refused naming the file and key" {
            let tree = Hdf5Tree.read (fixture "lava-netx/tiny.net")
            let path = Path.Combine (Path.GetTempPath (), $"snn-netx-{Guid.NewGuid ()}.net")
            try
                let withType (kind: string) =
                    match tree with
                    | Group root ->
                        let layers = match root.["layer"] with Group g -> g | _ -> failwith "layer"
                        let l2 = match layers.["2"] with Group g -> g | _ -> failwith "2"
                        Group (root.Add ("layer", Group (layers.Add ("2", Group (l2.Add ("type", Dataset (Hdf5Tree.vector (Strings [| kind |]))))))))
                    | _ -> failwith "root"
                Hdf5Tree.write path (withType "pool")
                let e = Expect.throwsC (fun () -> Netx.read path |> ignore) id
                Expect.isTrue (e :? InvalidDataException) "InvalidDataException"
                Expect.stringContains e.Message path "names the file"
                Expect.stringContains e.Message "layer/2/type" "names the key"
            finally File.Delete path
        }
        test "profiling counts SynOps as spikes x fan-out, estimates energy and refuses what does not fit" {
            let net = Netx.read (fixture "lava-netx/tiny.net")
            let result = tinynetRun net
            let p = Profiler.profile ChipConstants.Loihi1 net result (Some 17)
            let fan = FanOut.ofConnection net.Layers.[1].Incoming.Value
            let expected =
                result.Spikes.[0] |> Array.sumBy (fun row -> row |> Array.indexed |> Array.sumBy (fun (i, s) -> if s then int64 (fan.Offsets.[i + 1] - fan.Offsets.[i]) else 0L))
            Expect.equal p.Layers.[0].SynOps expected "layer 0 SynOps"
            Expect.isEmpty p.Refusals "tiny.net fits Loihi 1"
            Expect.isGreaterThan p.EnergyPerStep 0.0 "energy"
            Expect.stringContains (Profiler.report (Profiler.profile ChipConstants.Loihi2 net result (Some 17))) "extrapolated" "Loihi 2 figures are marked"
            let wide : Network =
                { Layers =
                    [| { Name = "in"; Shape = [| 5000 |]; Neurons = { Du = 0; Dv = 0; Vth = 1; BiasExp = 0; BiasMant = Array.zeroCreate 5000 }; Incoming = None; WeightExp = 0; Delays = None; Recurrent = None }
                       { Name = "out"; Shape = [| 2 |]; Neurons = { Du = 0; Dv = 0; Vth = 1; BiasExp = 0; BiasMant = Array.zeroCreate 2 }; Incoming = Some (Dense (5000, Array.create 10000 2)); WeightExp = 0; Delays = None; Recurrent = None } |] }
            let q = Profiler.profile ChipConstants.Loihi1 wide (Emulator.run wide NetworkBias (RunOptions.For 2)) None
            Expect.exists q.Refusals (fun r -> r.Contains "4096 input axons per core") "refusal with its reason"
        }
    ]
