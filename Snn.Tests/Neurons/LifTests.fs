module Snn.Tests.LifTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tests.Assertions

// Hand-computed with β = exp(-0.1) (τ = 10 ms, dt = 1 ms), θ = 1, v_rest = v_reset = 0:
// h_t = β v_{t-1} + (1 - β) x; with x = 1.5 the membrane first exceeds θ at step 11 (1.5 (1 - β^11) > 1).
let private hardTrace =
    [| 0.142743872946; 0.271903870383; 0.388772668977; 0.494519930947; 0.590204010431; 0.676782545859
       0.755122044313; 0.826006553824; 0.890145510389; 0.948180838243; 0.0; 0.142743872946; 0.271903870383 |]
let private hardSpikes = [| 0.; 0.; 0.; 0.; 0.; 0.; 0.; 0.; 0.; 0.; 1.; 0.; 0. |]

// Soft reset (subtract θ) with x = 2.5.
let private softTrace =
    [| 0.23790645491; 0.453173117305; 0.647954448296; 0.824199884911; 0.983673350718; 0.127970909765
       0.353699322486; 0.557946836629; 0.742757629967; 0.909981351036; 0.061291631042; 0.29336541609 |]
let private softSpikes = [| 0.; 0.; 0.; 0.; 0.; 1.; 0.; 0.; 0.; 0.; 1.; 0. |]

let private trace (p: LifParameters) (input: float) (steps: int) =
    let mutable state = Lif.initialState p (torch.zeros ([| 1L |], dtype = torch.float64))
    [| for _ in 1 .. steps do
        let s, z = Lif.step p state (torch.tensor [| input |])
        state <- s
        yield (s.V.ToDouble (), z.ToDouble ()) |]

let tests =
    testList "LIF" [
        test "hard reset follows the hand-computed trajectory" {
            let t = trace LifParameters.Default 1.5 hardTrace.Length
            allClose 1e-9 hardTrace (Array.map fst t) "v"
            Expect.equal (Array.map snd t) hardSpikes "spikes"
        }
        test "soft reset subtracts the threshold" {
            let t = trace { LifParameters.Default with Reset = Soft } 2.5 softTrace.Length
            allClose 1e-9 softTrace (Array.map fst t) "v"
            Expect.equal (Array.map snd t) softSpikes "spikes"
        }
        test "no reset keeps integrating towards the input" {
            let t = trace { LifParameters.Default with Reset = NoReset } 1.5 40
            let expected = Array.init 40 (fun i -> 1.5 * (1.0 - Math.Exp (-0.1 * float (i + 1))))
            allClose 1e-9 expected (Array.map fst t) "v = x (1 - β^t)"
        }
        test "unroll over [T; B; N] equals stepping by hand" {
            torch.manual_seed 3L |> ignore
            let p = { LifParameters.Default with TauMem = 5.0 }
            let inputs = torch.rand ([| 12L; 3L; 4L |], dtype = torch.float64) * 3.0
            let spikes, final = Lif.unrollFrom p None inputs
            Expect.equal spikes.shape [| 12L; 3L; 4L |] "time-first spikes"
            let mutable state = Lif.initialState p inputs.[0]
            for t in 0 .. 11 do
                let s, z = Lif.step p state inputs.[t]
                state <- s
                allClose 0.0 (values z) (values spikes.[t]) $"spikes at t = {t}"
            allClose 0.0 (values state.V) (values final.V) "final state"
        }
        test "gradients flow from spikes back to the input through time" {
            let inputs = torch.zeros ([| 8L; 2L; 3L |], dtype = torch.float64) + 0.9
            let g = Diff.grad (fun x -> (Lif.unroll LifParameters.Default x).sum ()) inputs
            Expect.isTrue (values g |> Array.forall (fun v -> v > 0.0)) "every input receives a positive gradient"
        }
        test "validate names the offending parameter" {
            let e = Expect.throwsC (fun () -> Lif.validate { LifParameters.Default with TauMem = -1.0 } |> ignore) id
            Expect.stringContains e.Message "TauMem" "names TauMem"
            let e = Expect.throwsC (fun () -> Lif.validate { LifParameters.Default with Dt = nan } |> ignore) id
            Expect.stringContains e.Message "Dt" "names Dt"
        }
    ]
