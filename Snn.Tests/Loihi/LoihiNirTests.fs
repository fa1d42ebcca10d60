/// NIR import, float simulation and export, checked against the file Norse wrote and Norse's own simulation of it.
module Snn.Tests.LoihiNirTests

open System
open System.Globalization
open System.IO
open Expecto
open Snn.Loihi
open Snn.Tests.Assertions

/// Columns of a NIR paper CSV: input spike, membrane voltage, output spike.
let private csv (name: string) =
    File.ReadAllLines (fixture name)
    |> Array.filter (fun l -> l.Trim () <> "")
    |> Array.map (fun l -> l.Split ',' |> Array.map (fun x -> Double.Parse (x, CultureInfo.InvariantCulture)))

let private temp () = Path.Combine (Path.GetTempPath (), $"snn-nir-{Guid.NewGuid ()}.nir")

let tests =
    testList "Loihi NIR" [
        test "time constants of 0, -1 or NaN and edges to missing nodes are refused naming the key" {
            let doc = Nir.read (fixture "nir/lif_norse.nir")
            let tauNode = doc.Graph.Nodes |> Map.findKey (fun _ n -> n.Fields.ContainsKey "tau")
            let refused (what: string) (edit: Nir.Document -> Nir.Document) (expected: string) =
                let path = temp ()
                try
                    Nir.write path (edit doc)
                    let e = Expect.throwsC (fun () -> Nir.read path |> ignore) id
                    Expect.isTrue (e :? InvalidDataException) $"{what}: InvalidDataException, got {e.GetType().Name}"
                    Expect.stringContains e.Message path $"{what}: names the file"
                    Expect.stringContains e.Message expected $"{what}: says what is wrong"
                finally File.Delete path
            for bad in [ 0.0; -1.0; nan ] do
                let node = doc.Graph.Nodes.[tauNode]
                let tau = node.Fields.["tau"]
                let edited = { node with Fields = node.Fields.Add ("tau", { tau with Values = Float64s (Array.create tau.Values.Count bad) }) }
                refused $"tau {bad}" (fun d -> { d with Graph = { d.Graph with Nodes = d.Graph.Nodes.Add (tauNode, edited) } }) $"nodes/{tauNode}/tau[0]"
            refused "edge to a missing node" (fun d -> { d with Graph = { d.Graph with Edges = Array.append d.Graph.Edges [| tauNode, "ghost" |] } }) "'ghost', which the graph does not have"
            Expect.throwsT<ArgumentException> (fun () -> Nir.simulate doc.Graph nan 2 [| [| 1.0 |]; [| 1.0 |] |] |> ignore) "dt NaN"
        }
        test "lif_norse.nir reads as Norse wrote it" {
            let doc = Nir.read (fixture "nir/lif_norse.nir")
            Expect.equal (doc.Graph.Nodes |> Map.toList |> List.map (fun (k, n) -> k, n.Type))
                [ "0", "Affine"; "1", "LIF"; "input", "Input"; "output", "Output" ] "nodes"
            Expect.equal doc.Graph.Edges [| "input", "0"; "0", "1"; "1", "output" |] "edges"
            Expect.equal (Nir.field doc.Graph.Nodes.["1"] "tau" [||]) [| float 0.0025f |] "tau in seconds"
        }
        test "simulating lif_norse.nir with dt = 0.1 ms reproduces Norse's voltage and spikes" {
            let doc = Nir.read (fixture "nir/lif_norse.nir")
            let rows = csv "nir/lif_norse.csv"
            let traces = Nir.simulate doc.Graph 1e-4 rows.Length (rows |> Array.map (fun r -> [| r.[0] |]))
            let lif = traces.["1"]
            let voltage = lif.Voltage |> Array.map (fun v -> v.[0])
            allClose 1e-6 (rows |> Array.map (fun r -> r.[1])) voltage "membrane voltage (forward Euler, float32 reference)"
            Expect.equal (traces.["output"].Output |> Array.map (fun o -> o.[0])) (rows |> Array.map (fun r -> r.[2])) "output spikes"
            Expect.equal (rows |> Array.sumBy (fun r -> r.[2])) 4.0 "the reference spikes four times"
        }
        test "NIR -> Snn -> NIR keeps NIR's layout and round-trips" {
            for name in [ "nir/lif_norse.nir"; "nir/two_lif_neurons.nir" ] do
                let doc = Nir.read (fixture name)
                let path = temp ()
                try
                    Nir.write path doc
                    Expect.equal (Nir.read path) doc $"{name}: identical document"
                    match Hdf5Tree.read path with
                    | Group root ->
                        Expect.containsAll (root |> Map.keys) [ "version"; "node" ] "root keys"
                        match root.["node"] with
                        | Group g -> Expect.containsAll (g |> Map.keys) [ "type"; "nodes"; "edges" ] "graph keys"
                        | _ -> failtest "node is not a group"
                    | _ -> failtest "root is not a group"
                finally File.Delete path
        }
        test "models NIR cannot express are refused with a reason" {
            let e = Expect.throwsC (fun () -> Nir.requireExpressible "Izhikevich") id
            Expect.stringContains e.Message "NIR has no node for the Izhikevich model" "reason"
            let doc = Nir.read (fixture "nir/lif_norse.nir")
            let bad = { doc with Graph = { doc.Graph with Nodes = doc.Graph.Nodes.Add ("1", { doc.Graph.Nodes.["1"] with Type = "Izhikevich" }) } }
            let path = temp ()
            try
                Nir.write path bad
                let e = Expect.throwsC (fun () -> Nir.read path |> ignore) id
                Expect.isTrue (e :? InvalidDataException) "InvalidDataException"
                Expect.stringContains e.Message "node/nodes/1/type" "names the key"
                Expect.stringContains e.Message "NIR cannot express" "says why"
            finally File.Delete path
        }
    ]
