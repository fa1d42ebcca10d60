/// NetX export fidelity: files written as lava-dl writes them, and what a source file held kept on the way back.
module Snn.Tests.LoihiNetxExportTests

open System
open System.IO
open Expecto
open PureHDF
open Snn.Loihi
open Snn.Tests.Assertions

let private temp () = Path.Combine (Path.GetTempPath (), $"snn-netx-export-{Guid.NewGuid ():N}.net")

let private groupOf (node: H5Node) = match node with Group g -> g | Dataset _ -> failtest "expected a group"

let private layersOf (root: H5Node) = groupOf (groupOf root).["layer"]

/// Keys whose values differ between two trees (datasets compared by shape, element type and values).
let rec private differences (key: string) (a: H5Node) (b: H5Node) : string list =
    match a, b with
    | Group x, Group y ->
        let keys = Set.union (x |> Map.keys |> set) (y |> Map.keys |> set)
        [ for k in keys do
            match x.TryFind k, y.TryFind k with
            | Some p, Some q -> yield! differences $"{key}/{k}" p q
            | Some _, None -> yield $"{key}/{k} missing"
            | None, _ -> yield $"{key}/{k} added" ]
    | Dataset p, Dataset q -> if p = q then [] else [ $"{key}: %A{p} <> %A{q}" ]
    | _ -> [ $"{key}: group and dataset" ]

/// The stored string datatype of a dataset: (fixed length in bytes, or 0 when variable-length).
let private stringWidth (path: string) (key: string) =
    use file = H5File.OpenRead path
    let ds = file.Dataset key
    Expect.equal ds.Type.Class H5DataTypeClass.String $"{key} is a string"
    int ds.Type.Size

let tests =
    testList "Loihi NetX export" [
        test "tiny.net read and written back keeps every layer key, element type and value, legacy LOIHI fields included" {
            let source = fixture "lava-netx/tiny.net"
            let path = temp ()
            try
                Netx.writeDocument path (Netx.readDocument source)
                let written = Hdf5Tree.read path
                Expect.equal (differences "layer" (Group (layersOf (Hdf5Tree.read source))) (Group (layersOf written))) [] "no difference under 'layer'"
                let neuron = groupOf (layersOf written).["1"] |> fun l -> groupOf l.["neuron"]
                Expect.equal neuron.["type"] (Dataset (Hdf5Tree.scalar (Strings [| "LOIHI" |]))) "legacy neuron type kept"
                Expect.isFalse (neuron.ContainsKey "gradedSpike") "no gradedSpike where the source had none"
                Expect.equal (Netx.read path) (Netx.read source) "the same network"
            finally File.Delete path
        }
        test "layer types are fixed-length 10-byte strings as lava-dl's 'S10'" {
            let path = temp ()
            try
                Netx.write path (Netx.read (fixture "lava-netx/tiny.net"))
                Expect.equal (stringWidth path "/layer/0/type") 10 "input"
                Expect.equal (stringWidth path "/layer/1/type") 10 "conv"
                use file = H5File.OpenRead path
                Expect.equal (file.Dataset("/layer/1/type").Space.Dimensions) [| 1UL |] "shape (1,)"
            finally File.Delete path
        }
        test "a network that did not come from NetX gets lava-dl's CUBA neuron group, gradedSpike enum and flatten shape" {
            let net : Network =
                { Layers =
                    [| { Name = "0"; Shape = [| 2; 3; 3 |]; Neurons = { Du = 4095; Dv = 4096; Vth = 0; BiasExp = 6; BiasMant = Array.zeroCreate 18 }
                         Incoming = None; WeightExp = 0; Delays = None; Recurrent = None }
                       { Name = "2"; Shape = [| 4 |]; Neurons = { Du = 1023; Dv = 128; Vth = 80; BiasExp = 6; BiasMant = Array.zeroCreate 4 }
                         Incoming = Some (Dense (18, Array.init 72 (fun i -> (i % 9 - 4) * 2))); WeightExp = 0; Delays = None; Recurrent = None } |] }
            let path = temp ()
            try
                Netx.write path net
                let layers = layersOf (Hdf5Tree.read path)
                let neuron = groupOf (groupOf layers.["2"]).["neuron"]
                Expect.equal neuron.["type"] (Dataset (Hdf5Tree.scalar (Strings [| "CUBA" |]))) "CUBA"
                Expect.equal neuron.["iDecay"] (Dataset (Hdf5Tree.scalar (Int64s [| 1024L |]))) "iDecay = du + 1"
                Expect.equal neuron.["refDelay"] (Dataset (Hdf5Tree.scalar (Int64s [| 1L |]))) "refDelay 1"
                Expect.equal neuron.["gradedSpike"] (Dataset (Hdf5Tree.scalar (Bools [| false |]))) "gradedSpike FALSE"
                use file = H5File.OpenRead path
                Expect.equal (file.Dataset("/layer/2/neuron/gradedSpike").Type.Class) H5DataTypeClass.Enumerated "an HDF5 enum, as h5py writes booleans"
                let flatten = groupOf layers.["1"]
                Expect.equal flatten.["type"] (Dataset (Hdf5Tree.vector (Strings [| "flatten" |]))) "flatten layer"
                Expect.equal flatten.["shape"] (Dataset (Hdf5Tree.vector (Int64s [| 18L; 1L; 1L |]))) "flatten shape (C·H·W, 1, 1) as lava-dl writes it"
                Expect.equal (Netx.read path) net "re-reads identically"
            finally File.Delete path
        }
        test "a changed network keeps the source's descriptive fields but writes its own dynamics" {
            let document = Netx.readDocument (fixture "lava-netx/tiny.net")
            let layers = document.Network.Layers |> Array.mapi (fun i l -> if i = 2 then { l with Neurons = { l.Neurons with Vth = 99 } } else l)
            let path = temp ()
            try
                Netx.writeDocument path { document with Network = { Layers = layers } }
                let neuron = groupOf (groupOf (layersOf (Hdf5Tree.read path)).["2"]).["neuron"]
                Expect.equal neuron.["vThMant"] (Dataset (Hdf5Tree.scalar (Int64s [| 99L |]))) "new threshold"
                Expect.containsAll (neuron |> Map.keys) [ "wgtExp"; "theta"; "tauRho"; "scaleRho" ] "legacy fields kept"
                let input = groupOf (layersOf (Hdf5Tree.read path)).["0"]
                Expect.containsAll (input |> Map.keys) [ "weight"; "bias" ] "the input transform is kept"
            finally File.Delete path
        }
        test "strings too long for the fixed width are refused naming the key" {
            let tree = Group (Map.ofList [ "layer", Group (Map.ofList [ "0", Group (Map.ofList [ "type", Dataset (Hdf5Tree.vector (Strings [| "convolution" |])) ]) ]) ])
            let e = Expect.throwsC (fun () -> Hdf5Tree.writeFixedStrings 10 (temp ()) tree) id
            Expect.stringContains e.Message "/layer/0/type" "names the key"
        }
    ]
