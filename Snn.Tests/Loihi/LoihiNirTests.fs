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

let private node kind (fields: (string * float[] * int[]) list) : Nir.Node =
    { Type = kind; Graph = None
      Fields = fields |> List.map (fun (k, v, shape) -> k, { Shape = shape |> Array.map int64; Values = Float64s v }) |> Map.ofList }

let private graph (nodes: (string * Nir.Node) list) (edges: (string * string)[]) : Nir.Graph =
    { Nodes = Map.ofList nodes; Edges = edges; Extra = Map.empty }

/// Conv2d by scattering each input pixel into the outputs it reaches (the transpose of the gather the simulation
/// does): input (c, r, q) meets tap (ky, kx) of output channel o in c's group at output (i, j) when
/// i·s_h - p + ky·d_h = r and j·s_w - p + kx·d_w = q.
let private scatterConv (x: float[]) (c, h, w) (weight: float[]) (cOut, cPerGroup, kh, kw) (bias: float[]) (sh, sw) (p, q) (dh, dw) =
    let hOut, wOut = (h + 2 * p - dh * (kh - 1) - 1) / sh + 1, (w + 2 * q - dw * (kw - 1) - 1) / sw + 1
    let groups = c / cPerGroup
    let y = Array.init (cOut * hOut * wOut) (fun k -> bias.[k / (hOut * wOut)])
    for ci in 0 .. c - 1 do
        let g = ci / cPerGroup
        for r in 0 .. h - 1 do
            for col in 0 .. w - 1 do
                for o in g * (cOut / groups) .. (g + 1) * (cOut / groups) - 1 do
                    for ky in 0 .. kh - 1 do
                        for kx in 0 .. kw - 1 do
                            let ni, nj = r + p - ky * dh, col + q - kx * dw
                            if ni >= 0 && nj >= 0 && ni % sh = 0 && nj % sw = 0 && ni / sh < hOut && nj / sw < wOut then
                                let k = (o * hOut + ni / sh) * wOut + nj / sw
                                y.[k] <- y.[k] + weight.[((o * cPerGroup + ci % cPerGroup) * kh + ky) * kw + kx] * x.[(ci * h + r) * w + col]
    y, (hOut, wOut)

let tests =
    testList "Loihi NIR" [
        test "Conv2d: a 2x2 kernel by hand, and stride, padding, dilation, groups against the scattered formula" {
            // 1 channel 3x3 input 1..9, kernel [[1, 0], [0, -1]], bias 0.5: y[i, j] = x[i, j] - x[i + 1, j + 1] + 0.5 = -3.5.
            let g1 =
                graph [ "in", node "Input" [ "shape", [| 1.0; 3.0; 3.0 |], [| 3 |] ]
                        "conv", node "Conv2d" [ "weight", [| 1.0; 0.0; 0.0; -1.0 |], [| 1; 1; 2; 2 |]; "bias", [| 0.5 |], [| 1 |] ]
                        "out", node "Output" [ "shape", [| 4.0 |], [| 1 |] ] ]
                      [| "in", "conv"; "conv", "out" |]
            let t1 = Nir.simulate g1 1e-3 1 [| Array.init 9 (fun i -> float (i + 1)) |]
            Expect.equal t1.["conv"].Output.[0] [| -3.5; -3.5; -3.5; -3.5 |] "x[i, j] - x[i + 1, j + 1] + 0.5"
            // 4 input channels 7x6, 6 output channels in 2 groups, 3x2 kernel, stride (2, 1), padding (1, 2), dilation (2, 1).
            let random = Random 17
            let x = Array.init (4 * 7 * 6) (fun _ -> random.NextDouble () - 0.5)
            let weight = Array.init (6 * 2 * 3 * 2) (fun _ -> random.NextDouble () - 0.5)
            let bias = Array.init 6 (fun i -> float i / 10.0)
            let expected, (hOut, wOut) = scatterConv x (4, 7, 6) weight (6, 2, 3, 2) bias (2, 1) (1, 2) (2, 1)
            let g2 =
                graph [ "in", node "Input" [ "shape", [| 4.0; 7.0; 6.0 |], [| 3 |] ]
                        "conv", node "Conv2d" [ "weight", weight, [| 6; 2; 3; 2 |]; "bias", bias, [| 6 |]; "stride", [| 2.0; 1.0 |], [| 2 |]
                                                "padding", [| 1.0; 2.0 |], [| 2 |]; "dilation", [| 2.0; 1.0 |], [| 2 |]; "groups", [| 2.0 |], [||] ]
                        "out", node "Output" [ "shape", [| float expected.Length |], [| 1 |] ] ]
                      [| "in", "conv"; "conv", "out" |]
            let t2 = Nir.simulate g2 1e-3 1 [| x |]
            Expect.equal (hOut, wOut) (3, 9) "H_out = (7 + 2 - 2·2 - 1) / 2 + 1 = 3, W_out = (6 + 4 - 1·1 - 1) / 1 + 1 = 9"
            allClose 1e-12 expected t2.["conv"].Output.[0] "every output"
            // padding 'same' with an even 2x2 kernel of ones: PyTorch pads 0 above/left and 1 below/right, so
            // y[i, j] = x[i, j] + x[i, j + 1] + x[i + 1, j] + x[i + 1, j + 1] with zeros outside the 3x3 frame 1..9.
            let same =
                { node "Conv2d" [ "weight", Array.create 4 1.0, [| 1; 1; 2; 2 |] ] with
                    Fields = (node "Conv2d" [ "weight", Array.create 4 1.0, [| 1; 1; 2; 2 |] ]).Fields.Add ("padding", Hdf5Tree.scalar (Strings [| "same" |])) }
            let g3 = graph [ "in", node "Input" [ "shape", [| 1.0; 3.0; 3.0 |], [| 3 |] ]; "conv", same; "out", node "Output" [ "shape", [| 9.0 |], [| 1 |] ] ] [| "in", "conv"; "conv", "out" |]
            let t3 = Nir.simulate g3 1e-3 1 [| Array.init 9 (fun i -> float (i + 1)) |]
            Expect.equal t3.["conv"].Output.[0] [| 12.0; 16.0; 9.0; 24.0; 28.0; 15.0; 15.0; 17.0; 9.0 |] "'same' keeps 3x3, the extra row and column padded at the end"
        }
        test "SumPool2d and AvgPool2d: windows summed by hand, with stride and padding" {
            // One 4x4 channel holding 0..15 (row-major).
            let pool kind (fields: (string * float[] * int[]) list) =
                let g =
                    graph [ "in", node "Input" [ "shape", [| 1.0; 4.0; 4.0 |], [| 3 |] ]; "pool", node kind fields; "out", node "Output" [ "shape", [| 1.0 |], [| 1 |] ] ]
                          [| "in", "pool"; "pool", "out" |]
                (Nir.simulate g 1e-3 1 [| Array.init 16 float |]).["pool"].Output.[0]
            // 2x2 windows, stride 2: 0+1+4+5, 2+3+6+7, 8+9+12+13, 10+11+14+15.
            Expect.equal (pool "SumPool2d" [ "kernel_size", [| 2.0; 2.0 |], [| 2 |]; "stride", [| 2.0; 2.0 |], [| 2 |]; "padding", [| 0.0; 0.0 |], [| 2 |] ]) [| 10.0; 18.0; 42.0; 50.0 |] "sums"
            Expect.equal (pool "AvgPool2d" [ "kernel_size", [| 2.0; 2.0 |], [| 2 |]; "stride", [| 2.0; 2.0 |], [| 2 |]; "padding", [| 0.0; 0.0 |], [| 2 |] ]) [| 2.5; 4.5; 10.5; 12.5 |] "means"
            // Padding 1, stride 2, kernel 2: out 3x3; window (i, j) covers rows 2i-1 .. 2i, columns 2j-1 .. 2j.
            //   (0,0) x0 = 0; (0,1) x1 + x2 = 3; (0,2) x3 = 3; (1,0) x4 + x8 = 12; (1,1) 5+6+9+10 = 30; (1,2) 7+11 = 18;
            //   (2,0) x12 = 12; (2,1) 13+14 = 27; (2,2) 15.
            Expect.equal (pool "SumPool2d" [ "kernel_size", [| 2.0 |], [||]; "stride", [| 2.0 |], [||]; "padding", [| 1.0 |], [||] ]) [| 0.0; 3.0; 3.0; 12.0; 30.0; 18.0; 12.0; 27.0; 15.0 |] "padded sums"
            // A 3x3 window with stride 1 and no padding: sums of 9 neighbours; (0,0) = 0+1+2+4+5+6+8+9+10 = 45, then +9 per column, +36 per row.
            Expect.equal (pool "SumPool2d" [ "kernel_size", [| 3.0; 3.0 |], [| 2 |]; "stride", [| 1.0; 1.0 |], [| 2 |]; "padding", [| 0.0; 0.0 |], [| 2 |] ]) [| 45.0; 54.0; 81.0; 90.0 |] "3x3 sums"
        }
        test "a conv -> pool -> flatten -> affine chain keeps (C, H, W) shapes through the graph" {
            // Input (1, 4, 4) = 1 everywhere; Conv2d 2 channels 3x3 of ones, padding 1 (bias 0, 1): interior 9, edges 6, corners 4;
            // SumPool2d 2x2 stride 2: every 2x2 quadrant holds a corner, two edges and an interior: 4 + 6 + 6 + 9 = 25 (+4 bias).
            let g =
                graph [ "in", node "Input" [ "shape", [| 1.0; 4.0; 4.0 |], [| 3 |] ]
                        "conv", node "Conv2d" [ "weight", Array.create 18 1.0, [| 2; 1; 3; 3 |]; "bias", [| 0.0; 1.0 |], [| 2 |]; "padding", [| 1.0 |], [||] ]
                        "pool", node "SumPool2d" [ "kernel_size", [| 2.0; 2.0 |], [| 2 |]; "stride", [| 2.0; 2.0 |], [| 2 |]; "padding", [| 0.0; 0.0 |], [| 2 |] ]
                        "flat", node "Flatten" []
                        "fc", node "Affine" [ "weight", Array.init 8 (fun i -> if i < 4 then 1.0 else -1.0), [| 1; 8 |]; "bias", [| 0.5 |], [| 1 |] ]
                        "out", node "Output" [ "shape", [| 1.0 |], [| 1 |] ] ]
                      [| "in", "conv"; "conv", "pool"; "pool", "flat"; "flat", "fc"; "fc", "out" |]
            let t = Nir.simulate g 1e-3 1 [| Array.create 16 1.0 |]
            Expect.equal t.["pool"].Output.[0] [| 25.0; 25.0; 25.0; 25.0; 29.0; 29.0; 29.0; 29.0 |] "pooled conv"
            Expect.equal t.["fc"].Output.[0] [| 4.0 * 25.0 - 4.0 * 29.0 + 0.5 |] "affine on the flattened (C, H, W)"
        }
        test "non-leaky LIF and CubaLIF (tau = r = inf) read, simulate as integrators and map to voltage decay 0" {
            let lif =
                node "LIF" [ "tau", [| infinity |], [| 1 |]; "r", [| infinity |], [| 1 |]; "v_leak", [| 0.0 |], [| 1 |]
                             "v_threshold", [| 1.0 |], [| 1 |]; "v_reset", [| 0.0 |], [| 1 |] ]
            let g =
                graph [ "in", node "Input" [ "shape", [| 1.0 |], [| 1 |] ]; "fc", node "Linear" [ "weight", [| 0.25 |], [| 1; 1 |] ]
                        "lif", lif; "out", node "Output" [ "shape", [| 1.0 |], [| 1 |] ] ]
                      [| "in", "fc"; "fc", "lif"; "lif", "out" |]
            let path = temp ()
            try
                Nir.write path { Version = "1.0.7"; Graph = g }
                let doc = Nir.read path
                // v <- v + 0.25 every step: 0.25, 0.5, 0.75, 1 (not > 1), 1.25 spike at t = 4, reset, again at t = 9.
                let t = Nir.simulate doc.Graph 1e-3 12 (Array.create 12 [| 1.0 |])
                Expect.equal (t.["lif"].Voltage |> Array.map (fun v -> v.[0])) [| 0.25; 0.5; 0.75; 1.0; 0.0; 0.25; 0.5; 0.75; 1.0; 0.0; 0.25; 0.5 |] "integrates without leak"
                let net = NirMapping.toFloatNetwork 1e-3 doc.Graph
                Expect.equal (net.Layers.[1].VoltageDecay, net.Layers.[1].Incoming.Value.WeightValues) (0.0, [| 0.25 |]) "voltage decay 0, gain 1"
                let q = NirMapping.toLoihi 1e-3 (Some [| 1.0; 1.0 |]) doc.Graph
                Expect.equal q.Network.Layers.[1].Neurons.Dv 0 "vDecay 0"
                let emulated = Emulator.run q.Network (InputSpikes (Array.create 13 [| true |])) (RunOptions.For 13)
                Expect.equal [ for s in 1 .. 12 do if emulated.Spikes.[1].[s].[0] then yield s - 1 ] [ 4; 9 ] "the emulator too, one step later"
                // A CubaLIF with tau_mem = r = inf and an IF node map to voltage decay 0 as well.
                let cuba = node "CubaLIF" [ "tau_syn", [| 2e-3 |], [| 1 |]; "tau_mem", [| infinity |], [| 1 |]; "r", [| infinity |], [| 1 |]; "w_in", [| 2.0 |], [| 1 |]
                                            "v_leak", [| 0.0 |], [| 1 |]; "v_threshold", [| 1.0 |], [| 1 |]; "v_reset", [| 0.0 |], [| 1 |] ]
                let cubaNet = NirMapping.toFloatNetwork 1e-3 { g with Nodes = g.Nodes.Add ("lif", cuba) }
                Expect.equal (cubaNet.Layers.[1].CurrentDecay, cubaNet.Layers.[1].VoltageDecay, cubaNet.Layers.[1].Incoming.Value.WeightValues) (0.5, 0.0, [| 0.25 |]) "cd = dt/τ_syn, vd = 0, gain w_in · cd"
                let ifNode = node "IF" [ "r", [| 1000.0 |], [| 1 |]; "v_threshold", [| 1.0 |], [| 1 |]; "v_reset", [| 0.0 |], [| 1 |] ]
                let ifQ = NirMapping.toLoihi 1e-3 (Some [| 1.0; 1.0 |]) { g with Nodes = g.Nodes.Add ("lif", ifNode) }
                Expect.equal (ifQ.Network.Layers.[1].Neurons.Dv, ifQ.Network.Layers.[1].Incoming.Value.WeightValues) (0, [| 16 |]) "IF: vDecay 0, weight 0.25 · 64"
                // tau = inf with a finite r would let no input in: refused naming r.
                Nir.write path { Version = "1.0.7"; Graph = { g with Nodes = g.Nodes.Add ("lif", node "LIF" [ "tau", [| infinity |], [| 1 |]; "r", [| 2.0 |], [| 1 |] ]) } }
                let e = Expect.throwsC (fun () -> Nir.read path |> ignore) id
                Expect.stringContains e.Message "nodes/lif/r[0]: 2 is finite while tau[0] is infinite" "names r and says why"
                Nir.write path { Version = "1.0.7"; Graph = { g with Nodes = g.Nodes.Add ("lif", { cuba with Fields = cuba.Fields.Add ("tau_syn", { Shape = [| 1L |]; Values = Float64s [| infinity |] }) }) } }
                let e = Expect.throwsC (fun () -> Nir.read path |> ignore) id
                Expect.stringContains e.Message "nodes/lif/tau_syn[0]" "an infinite tau_syn is refused"
            finally File.Delete path
        }
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
