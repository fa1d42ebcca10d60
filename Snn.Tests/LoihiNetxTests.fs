/// NetX import checked against Lava's recorded run of lava-dl's tiny.net (fixtures/lava-netx, see its README).
module Snn.Tests.LoihiNetxTests

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
    ]
