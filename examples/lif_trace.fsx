// Membrane trace of one LIF neuron under a step current, checked against the analytic solution.
// Run after building: dotnet fsi examples/lif_trace.fsx
#load "shared/references.fsx"

open System
open TorchSharp
open Snn.Neurons

let p = { LifParameters.Default with TauMem = 10.0; Dt = 1.0; Reset = NoReset }
let steps = 30
// Input current: 0 for the first 5 ms, then 1.2 (a step, as in a textbook figure).
let current = Array.init steps (fun t -> if t < 5 then 0.0 else 1.2)
let inputs = torch.tensor(current).reshape (int64 steps, 1L)
let mutable state = Lif.initialState p inputs.[0]
printfn "t_ms,v,analytic"
let mutable worst = 0.0
for t in 0 .. steps - 1 do
    let s, _ = Lif.step p state inputs.[t]
    state <- s
    let v = s.V.ToDouble ()
    let analytic = if t < 5 then 0.0 else 1.2 * (1.0 - Math.Exp (-float (t - 4) * p.Dt / p.TauMem))
    worst <- max worst (abs (v - analytic))
    printfn "%d,%.6f,%.6f" (t + 1) v analytic
printfn "largest deviation from the analytic solution: %g" worst
if worst > 1e-6 then failwithf "the LIF trace deviates from the analytic solution by %g" worst
