/// `snn simulate`: runs one neuron of a chosen model on a chosen input and prints its trace as CSV, the way a user
/// checks a model against a textbook figure or another simulator.
module Snn.Cli.SimulateCommand

open System
open System.Globalization
open System.IO
open Argu
open Microsoft.FSharp.Reflection
open TorchSharp
open Snn
open Snn.Neurons

/// Options of `snn simulate`.
type SimulateArgs =
    | [<Mandatory>] Model of name: string
    | Preset of name: string
    | Param of assignment: string
    | [<Mandatory>] Input of spec: string
    | Steps of int
    | Dt of ms: float

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "if | lif | plif | culif | alif (adaptive threshold) | adlif | qif | eif | izhikevich | hh"
            | Preset _ -> "Izhikevich preset: RS, IB, CH, FS, LTS, TC or RZ"
            | Param _ -> "set a numeric parameter, e.g. TauMem=20 (repeatable; names as in the F# parameter records)"
            | Input _ -> "constant:I | step:T0:I (0 before T0 ms, then I) | spikes:FILE.csv (one input value per step and line)"
            | Steps _ -> "number of steps (default 100; for spikes: the file's length)"
            | Dt _ -> "step in ms (default: the model's own dt)"

let private invariant = CultureInfo.InvariantCulture

/// Returns `record` with the numeric fields named in `assignments` (name=value, case-insensitive) replaced.
let private assign (assignments: (string * float) list) (record: 'T) : 'T =
    let fields = FSharpType.GetRecordFields typeof<'T>
    let values = FSharpValue.GetRecordFields record
    for name, value in assignments do
        match fields |> Array.tryFindIndex (fun f -> String.Equals (f.Name, name, StringComparison.OrdinalIgnoreCase)) with
        | Some i when fields.[i].PropertyType = typeof<float> -> values.[i] <- box value
        | Some i when fields.[i].PropertyType = typeof<int> -> values.[i] <- box (int value)
        | _ ->
            let numeric = fields |> Array.filter (fun f -> f.PropertyType = typeof<float> || f.PropertyType = typeof<int>) |> Array.map (fun f -> f.Name)
            let known = String.Join (", ", numeric)
            invalidArg "param" $"'{name}' is not a numeric parameter of this model (known: {known})"
    FSharpValue.MakeRecord (typeof<'T>, values) :?> 'T

let private parseAssignment (text: string) =
    match text.Split ('=', 2) with
    | [| name; value |] ->
        match Double.TryParse (value, NumberStyles.Float, invariant) with
        | true, v -> name.Trim (), v
        | _ -> invalidArg "param" $"'{text}': the value is not a number"
    | _ -> invalidArg "param" $"'{text}' is not of the form name=value"

/// The input current of every step from the --input specification.
let private inputSeries (spec: string) (steps: int option) (dt: float) : float[] =
    let number (field: string) (text: string) =
        match Double.TryParse (text, NumberStyles.Float, invariant) with
        | true, v -> v
        | _ -> invalidArg "input" $"'{spec}': {field} '{text}' is not a number"
    match spec.Split (':', 3) with
    | [| "constant"; value |] -> Array.create (defaultArg steps 100) (number "I" value)
    | [| "step"; t0; value |] ->
        let t0, i = number "T0" t0, number "I" value
        Array.init (defaultArg steps 100) (fun k -> if float k * dt >= t0 then i else 0.0)
    | [| "spikes"; path |] ->
        if not (File.Exists path) then invalidArg "input" $"{path} does not exist"
        let rows =
            File.ReadAllLines path
            |> Array.map (fun line -> line.Trim ())
            |> Array.filter (fun line -> line <> "")
        let rows = if rows.Length > 0 && fst (Double.TryParse (rows.[0].Split(',').[0], NumberStyles.Float, invariant)) |> not then rows.[1..] else rows
        let values =
            rows |> Array.mapi (fun k line ->
                match Double.TryParse (line.Split(',').[0], NumberStyles.Float, invariant) with
                | true, v -> v
                | _ -> raise (InvalidDataException ($"{path}: data line {k + 1}: '{line}' is not a number")))
        match steps with
        | Some n when n < values.Length -> values.[.. n - 1]
        | Some n -> Array.append values (Array.zeroCreate (n - values.Length))
        | None -> values
    | _ -> invalidArg "input" $"'{spec}' is not constant:I, step:T0:I or spikes:FILE.csv"

/// A model as what the trace needs: its dt, the variable names and a runner producing (spike, variables) per step.
type private Simulation = { Dt: float; Variables: string list; Run: torch.Tensor -> (float * float list)[] }

let private scalar (t: torch.Tensor) = t.[0L, 0L].ToDouble ()

/// Builds the simulation of one neuron; `dt` overrides the model's step when given.
let private simulation (model: string) (preset: string option) (assignments: (string * float) list) (dt: float option) : Simulation =
    let withDt (record: 'T) = match dt with Some d -> assign [ "Dt", d ] record | None -> record
    let trace (step: 'S -> torch.Tensor -> 'S * torch.Tensor) (initial: 'S) (variables: 'S -> float list) (inputs: torch.Tensor) =
        let rows = Collections.Generic.List<float * float list> ()
        let mutable s = initial
        for t in 0 .. int inputs.shape.[0] - 1 do
            let s', z = step s inputs.[t]
            s <- s'
            rows.Add (scalar z, variables s')
        rows.ToArray ()
    let one = torch.zeros ([| 1L; 1L |], dtype = torch.float64)
    match model.ToLowerInvariant () with
    | "if" ->
        let p = If.validate (assign assignments IfParameters.Default)
        { Dt = defaultArg dt 1.0; Variables = [ "v" ]; Run = trace (If.step p) (If.initialState p one) (fun s -> [ scalar s.V ]) }
    | "lif" ->
        let p = Lif.validate (withDt (assign assignments LifParameters.Default))
        { Dt = p.Dt; Variables = [ "v"; "refractory" ]; Run = trace (Lif.step p) (Lif.initialState p one) (fun s -> [ scalar s.V; scalar s.Refractory ]) }
    | "plif" ->
        let p = Plif.validate (withDt (assign assignments PlifParameters.Default))
        let w = torch.tensor (Plif.initialWeight p, dtype = torch.float64)
        let s0 = Lif.initialState { LifParameters.Default with VRest = p.VRest } one
        { Dt = p.Dt; Variables = [ "v" ]; Run = trace (Plif.stepWith Modulation.None p w) s0 (fun s -> [ scalar s.V ]) }
    | "culif" ->
        let p = CuLif.validate (withDt (assign assignments CuLifParameters.Default))
        { Dt = p.Dt; Variables = [ "v"; "i" ]; Run = trace (CuLif.step p) (CuLif.initialState p one) (fun s -> [ scalar s.V; scalar s.I ]) }
    | "alif" ->
        let d = AdaptiveThresholdParameters.Default
        let p = AdaptiveThreshold.validate { (assign assignments d) with Membrane = withDt (assign (assignments |> List.filter (fun (n, _) -> not (n.Equals ("TauThreshold", StringComparison.OrdinalIgnoreCase) || n.Equals ("Increment", StringComparison.OrdinalIgnoreCase)))) d.Membrane) }
        { Dt = p.Membrane.Dt; Variables = [ "v"; "threshold" ]
          Run = trace (AdaptiveThreshold.stepWith Modulation.None p) (AdaptiveThreshold.initialState p one) (fun s -> [ scalar s.V; scalar s.Threshold ]) }
    | "adlif" ->
        let p = AdLif.validate (withDt (assign assignments AdLifParameters.Default))
        { Dt = p.Dt; Variables = [ "v"; "w" ]; Run = trace (AdLif.stepWith Modulation.None p) (AdLif.initialState p one) (fun s -> [ scalar s.U; scalar s.W ]) }
    | "qif" | "eif" ->
        let d = if model.ToLowerInvariant () = "qif" then NonlinearIfParameters.DefaultQuadratic else NonlinearIfParameters.DefaultExponential
        let p = NonlinearIf.validate (withDt (assign assignments d))
        { Dt = p.Dt; Variables = [ "v" ]; Run = trace (NonlinearIf.stepWith Modulation.None p) (NonlinearIf.initialState p one) (fun s -> [ scalar s.V ]) }
    | "izhikevich" ->
        let d = match preset with Some name -> Izhikevich.preset name | None -> IzhikevichParameters.Default
        let p = Izhikevich.validate (withDt (assign assignments d))
        { Dt = p.Dt; Variables = [ "v"; "u" ]; Run = trace (Izhikevich.stepWith Modulation.None p) (Izhikevich.initialState p one) (fun s -> [ scalar s.V; scalar s.U ]) }
    | "hh" ->
        let p = HodgkinHuxley.validate (withDt (assign assignments HodgkinHuxleyParameters.Default))
        { Dt = p.Dt; Variables = [ "v"; "m"; "h"; "n" ]
          Run = trace (HodgkinHuxley.stepWith Modulation.None p) (HodgkinHuxley.initialState p one) (fun s -> [ scalar s.V; scalar s.M; scalar s.H; scalar s.N ]) }
    | other -> invalidArg "model" $"unknown model '{other}' (known: if, lif, plif, culif, alif, adlif, qif, eif, izhikevich, hh)"

/// Runs the command: prints `t,v,spike,...` rows (t in ms at the end of each step); returns the exit code.
let run (args: ParseResults<SimulateArgs>) : int =
    let model = args.GetResult Model
    if args.Contains Preset && model.ToLowerInvariant () <> "izhikevich" then invalidArg "preset" "presets exist for the izhikevich model only"
    let sim = simulation model (args.TryGetResult Preset) (args.GetResults Param |> List.map parseAssignment) (args.TryGetResult Dt)
    args.TryGetResult Steps |> Option.iter (fun steps ->
        if steps < 1 then invalidArg "--steps" $"must be >= 1, got {steps}"
        // The input series, its tensor and one row of boxed values per step: about 200 bytes a step.
        Snn.Limits.checkElements "--steps" $"{steps} simulated steps" (float steps) 200.0)
    let series = inputSeries (args.GetResult Input) (args.TryGetResult Steps) sim.Dt
    let inputs = torch.tensor(series).reshape (int64 series.Length, 1L, 1L)
    let rows = sim.Run inputs
    let variables = sim.Variables
    printfn "%s" (String.Join (",", [ yield "t"; yield variables.Head; yield "spike"; yield! variables.Tail ]))
    rows |> Array.iteri (fun k (spike, values) ->
        let cells = [ yield Math.Round (float (k + 1) * sim.Dt, 9); yield values.Head; yield spike; yield! values.Tail ]
        printfn "%s" (String.Join (",", cells |> List.map (fun v -> v.ToString ("R", invariant)))))
    0
