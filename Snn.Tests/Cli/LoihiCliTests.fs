/// `snn loihi import|export|run|profile|validate`, run in-process on the real Lava and NIR fixtures.
module Snn.Tests.LoihiCliTests

open System
open System.Globalization
open System.IO
open Expecto
open Snn.Data
open Snn.Loihi
open Snn.Tests.Assertions

/// Runs `snn` in-process (see `Assertions.runSnn`).
let private snn (args: string list) = runSnn args

/// A fresh temporary folder, deleted with everything in it after `body`.
/// Lava's input bias (stored W, H, C) rewritten in the (C, H, W) order `snn loihi run --input` expects.
let private writeInputBiasChw (path: string) =
    let a = Npy.read (fixture "lava-netx/tinynet/input_bias.npy")
    let w, h, c = int a.Shape.[0], int a.Shape.[1], int a.Shape.[2]
    let chw =
        Array.init (c * h * w) (fun i ->
            let ch, y, x = i / (h * w), i / w % h, i % w
            a.Values.[(x * h + y) * c + ch])
    Npy.write path "<i8" [| int64 chw.Length |] chw

/// tiny.net's tree with one odd weight in layer 1 and a delay of 63 in layer 2.
let private brokenTinyNet (path: string) =
    match Hdf5Tree.read (fixture "lava-netx/tiny.net") with
    | Group root ->
        let layers = match root.["layer"] with Group g -> g | _ -> failwith "layer"
        let group name = match layers.[name] with Group g -> g | _ -> failwith name
        let l1 = group "1"
        let w = match l1.["weight"] with Dataset d -> d | _ -> failwith "weight"
        let odd = { w with Values = Float32s (w.Values.AsFloats |> Array.mapi (fun i x -> if i = 5 then 7.0f else float32 x)) }
        let l2 = (group "2").Add ("delay", Dataset (Hdf5Tree.vector (Float32s (Array.create 36 63.0f))))
        Hdf5Tree.write path (Group (root.Add ("layer", Group (layers.Add("1", Group (l1.Add ("weight", Dataset odd))).Add ("2", Group l2)))))
    | _ -> failwith "root"

let tests =
    testList "Loihi CLI" [
        test "import lists tiny.net's layers and lif_norse.nir's nodes and edges" {
            let code, out, _ = snn [ "loihi"; "import"; fixture "lava-netx/tiny.net" ]
            Expect.equal code 0 "exit code"
            Expect.stringContains out "3x16x16" "input layer shape"
            Expect.stringContains out "24x6x6" "conv layer shape"
            Expect.stringContains out "du 4095 dv 1024 vth     25" "layer 1 neurons in Lava's units"
            let code, out, _ = snn [ "loihi"; "import"; fixture "nir/lif_norse.nir" ]
            Expect.equal code 0 "exit code"
            Expect.stringContains out "node 1          LIF" "LIF node"
            Expect.stringContains out "edge 0 -> 1" "edge"
        }
        test "export writes NetX and NIR files that re-read identically" {
            inTemporaryFolder (fun folder ->
                let netx = Path.Combine (folder, "tiny.net")
                let code, out, _ = snn [ "loihi"; "export"; fixture "lava-netx/tiny.net"; "--out"; netx ]
                Expect.equal code 0 "exit code"
                Expect.stringContains out netx "names the written file"
                Expect.equal (Netx.read netx) (Netx.read (fixture "lava-netx/tiny.net")) "same network"
                let nir = Path.Combine (folder, "lif.nir")
                let code, _, _ = snn [ "loihi"; "export"; fixture "nir/lif_norse.nir"; "--out"; nir ]
                Expect.equal code 0 "exit code"
                Expect.equal (Nir.read nir) (Nir.read (fixture "nir/lif_norse.nir")) "same document"
                Expect.isFalse (File.Exists (nir + ".tmp")) "no temporary file left behind")
        }
        test "export converts NIR to NetX through the quantizer and NetX to NIR, and asks for --dt" {
            inTemporaryFolder (fun folder ->
                let netx = Path.Combine (folder, "lif.net")
                let code, _, err = snn [ "loihi"; "export"; fixture "nir/lif_norse.nir"; "--out"; netx ]
                Expect.equal code 2 "exit code without --dt"
                Expect.stringContains err "--dt" "says what is missing"
                let code, out, err = snn [ "loihi"; "export"; fixture "nir/lif_norse.nir"; "--out"; netx; "--dt"; "1e-4" ]
                Expect.equal code 0 $"exit code ({err})"
                Expect.stringContains out "no value was clipped" "prints the clip report"
                Expect.isEmpty (Netx.validateFile netx) "a valid NetX file"
                let layer = (Netx.read netx).Layers.[1]
                Expect.equal (layer.Neurons.Du, layer.Neurons.Dv) (4095, 164) "LIF with tau 2.5 ms at dt 0.1 ms"
                let nir = Path.Combine (folder, "tiny.nir")
                let code, _, err = snn [ "loihi"; "export"; fixture "lava-netx/tiny.net"; "--out"; nir; "--dt"; "1e-3" ]
                Expect.equal code 0 $"exit code ({err})"
                Expect.equal ((Nir.read nir).Graph.Nodes |> Map.toList |> List.map (fun (_, n) -> n.Type) |> List.countBy id |> List.sort)
                    [ "Conv2d", 2; "CubaLIF", 2; "Input", 1; "Output", 1 ] "two conv layers as Conv2d + CubaLIF")
        }
        test "run on tiny.net writes u, v and spikes as .npy and the output spikes equal Lava's" {
            inTemporaryFolder (fun folder ->
                let bias = Path.Combine (folder, "bias.npy")
                writeInputBiasChw bias
                let output = Path.Combine (folder, "out")
                let code, out, err = snn [ "loihi"; "run"; fixture "lava-netx/tiny.net"; "--input"; bias; "--steps"; "20"; "--reset-interval"; "17"; "--out"; output ]
                Expect.equal code 0 $"exit code ({err})"
                Expect.stringContains out "wrote u, v and spikes" "summary"
                for layer in [ "0"; "1"; "2" ] do
                    for suffix in [ "u"; "v"; "spikes" ] do
                        Expect.isTrue (File.Exists (Path.Combine (output, $"layer{layer}_{suffix}.npy"))) $"layer {layer} {suffix}"
                let u1 = Npy.read (Path.Combine (output, "layer1_u.npy"))
                Expect.equal u1.Shape [| 24L; 6L; 6L; 20L |] "(C, H, W, T)"
                Expect.equal u1.Descr "<i4" "u as int32"
                let spikes = Npy.read (Path.Combine (output, "layer2_spikes.npy"))
                Expect.equal spikes.Shape [| 36L; 1L; 1L; 20L |] "output layer (C, H, W, T)"
                let gt = Npy.read (fixture "lava-netx/tinynet/output.npy")
                let channels, frames = int gt.Shape.[1], int gt.Shape.[4]
                let mismatches =
                    [ for c in 0 .. channels - 1 do
                        for k in 1 .. frames - 1 do
                            if (gt.Values.[c * frames + k] > 0.5) <> (spikes.Values.[c * 20 + k + 1] > 0.5) then yield c, k ]
                Expect.isEmpty mismatches "(channel, frame) pairs that differ from Lava's recorded output"
                Expect.isGreaterThan (spikes.Values |> Array.sum) 0.0 "the output layer spikes")
        }
        test "run on a NIR graph simulates it in float and writes every node's trace" {
            inTemporaryFolder (fun folder ->
                let rows =
                    File.ReadAllLines (fixture "nir/lif_norse.csv")
                    |> Array.filter (fun l -> l.Trim () <> "")
                    |> Array.map (fun l -> l.Split ',' |> Array.map (fun x -> Double.Parse (x, CultureInfo.InvariantCulture)))
                let input = Path.Combine (folder, "spikes.npy")
                Npy.write input "<f8" [| 1L; int64 rows.Length |] (rows |> Array.map (fun r -> r.[0]))
                let code, out, err = snn [ "loihi"; "run"; fixture "nir/lif_norse.nir"; "--input"; input; "--steps"; string rows.Length; "--out"; folder ]
                Expect.equal code 0 $"exit code ({err})"
                Expect.stringContains out "simulated" "summary"
                let spikes = Npy.read (Path.Combine (folder, "layeroutput_out.npy"))
                Expect.equal spikes.Values (rows |> Array.map (fun r -> r.[2])) "Norse's output spikes")
        }
        test "profile prints the constants, per-layer SynOps and energy; --loihi2 marks its figures extrapolated" {
            inTemporaryFolder (fun folder ->
                let bias = Path.Combine (folder, "bias.npy")
                writeInputBiasChw bias
                let code, out, _ = snn [ "loihi"; "profile"; fixture "lava-netx/tiny.net"; "--input"; bias; "--steps"; "17"; "--reset-interval"; "17" ]
                Expect.equal code 0 "exit code"
                Expect.stringContains out "Davies et al. 2018" "names the constants"
                Expect.stringContains out "energy per sample" "per-sample energy with a reset interval"
                Expect.stringContains out "fits the chip" "fits"
                let code, out, _ = snn [ "loihi"; "profile"; fixture "lava-netx/tiny.net"; "--steps"; "5"; "--loihi2" ]
                Expect.equal code 0 "exit code"
                Expect.stringContains out "extrapolated" "Loihi 2 figures are marked")
        }
        test "validate accepts tiny.net and exits 1 listing every violation of a broken file" {
            let code, out, err = snn [ "loihi"; "validate"; fixture "lava-netx/tiny.net" ]
            Expect.equal (code, out.Trim (), err) (0, "valid", "") "valid file"
            inTemporaryFolder (fun folder ->
                let path = Path.Combine (folder, "broken.net")
                brokenTinyNet path
                let code, out, err = snn [ "loihi"; "validate"; path ]
                Expect.equal code 1 "exit code"
                Expect.equal out "" "nothing on standard output"
                let lines = err.Split ('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.map (fun l -> l.Trim ())
                Expect.contains lines "layer/1/weight[5]: 7 is odd; mixed-sign weights must be even" "odd weight"
                Expect.contains lines "layer/2/delay[0]: 63 is not an integer in [0, 62]" "delay out of range"
                Expect.equal lines.Length 2 "exactly the two violations")
        }
        test "missing and unreadable files exit 2 naming the file" {
            let missing = Path.Combine (Path.GetTempPath (), $"snn-missing-{Guid.NewGuid ():N}.net")
            for command in [ "import"; "validate"; "run"; "profile" ] do
                let code, _, err = snn [ "loihi"; command; missing ]
                Expect.equal code 2 $"{command}: exit code"
                Expect.stringContains err missing $"{command}: names the file"
            inTemporaryFolder (fun folder ->
                let text = Path.Combine (folder, "not-hdf5.net")
                File.WriteAllText (text, "not an HDF5 file")
                let code, _, err = snn [ "loihi"; "import"; text ]
                Expect.equal code 2 "exit code"
                Expect.stringContains err text "names the file")
        }
    ]
