/// Invariants of the LIF membrane equation τ dv/dt = -(v - v_rest) + x, integrated exactly over each step.
module Snn.PropertyTests.MembraneProperties

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Snn
open Snn.Neurons
open Snn.PropertyTests.Generators

type private Setting = { Tau: float; Dt: float; Rest: float; Input: float; Steps: int }

let private settings =
    gen {
        let! tau = floatIn 0.5 100.0
        let! dt = floatIn 0.05 5.0
        let! rest = floatIn -1.0 0.5
        let! input = floatIn -3.0 3.0
        let! steps = Gen.choose (1, 60)
        return { Tau = tau; Dt = dt; Rest = rest; Input = input; Steps = steps }
    } |> Arb.fromGen

let private parameters (s: Setting) (reset: ResetMode) =
    { LifParameters.Default with TauMem = s.Tau; Dt = s.Dt; VRest = s.Rest; VReset = s.Rest; Reset = reset }

/// Membrane potentials and spikes over `steps` steps of constant input, from v = v_rest.
let private simulate (p: LifParameters) (input: float) (steps: int) =
    let inputs = torch.zeros ([| int64 steps; 1L |], dtype = torch.float64) + input
    let mutable state = Lif.initialState p inputs.[0]
    [| for t in 0 .. steps - 1 do
        let s, z = Lif.step p state inputs.[t]
        state <- s
        yield s.V.ToDouble (), z.ToDouble () |]

let tests =
    testList "membrane" [
        testPropertyWithConfig config "without reset, v_t equals the analytic solution v_rest + x (1 - exp(-t dt / tau))" <|
            Prop.forAll settings (fun s ->
                let trace = simulate (parameters s NoReset) s.Input s.Steps
                trace |> Array.mapi (fun t (v, _) ->
                    let exact = s.Rest + s.Input * (1.0 - Math.Exp (-float (t + 1) * s.Dt / s.Tau))
                    abs (v - exact) <= 1e-9 * (1.0 + abs exact))
                |> Array.forall id)

        testPropertyWithConfig config "spikes are exactly 0 or 1 and hard reset puts v at v_reset" <|
            Prop.forAll settings (fun s ->
                let p = { parameters s Hard with VThreshold = s.Rest + 0.5 }
                simulate p (s.Input * 2.0) s.Steps
                |> Array.forall (fun (v, z) -> (z = 0.0 || z = 1.0) && (z = 0.0 || v = p.VReset)))

        testPropertyWithConfig config "below rheobase (v_rest + x < theta) the neuron never fires" <|
            Prop.forAll settings (fun s ->
                let p = { parameters s Hard with VThreshold = s.Rest + abs s.Input + 0.01 }
                simulate p (abs s.Input) s.Steps |> Array.forall (fun (_, z) -> z = 0.0))

        testPropertyWithConfig config "the spike count grows monotonically with a constant input" <|
            Prop.forAll settings (fun s ->
                let p = { parameters s Hard with VThreshold = s.Rest + 0.3 }
                let count x = simulate p x s.Steps |> Array.sumBy snd
                let low, high = abs s.Input, abs s.Input + 0.5
                count low <= count high)

        testPropertyWithConfig config "soft reset is linear: v_soft = v_noreset - theta * sum_s z_s beta^(t-s)" <|
            Prop.forAll settings (fun s ->
                let soft = { parameters s Soft with VThreshold = s.Rest + 0.4 }
                let free = { soft with Reset = NoReset }
                let x = abs s.Input * 3.0
                let withReset = simulate soft x s.Steps
                let without = simulate free x s.Steps
                let beta = Lif.decay soft
                let mutable removed = 0.0 // θ Σ_s z_s β^(t-s), accumulated recursively
                Array.forall2 (fun (v, z) (vFree, _) ->
                    removed <- removed * beta + soft.VThreshold * z
                    abs (v - (vFree - removed)) <= 1e-9 * (1.0 + abs vFree)) withReset without)
    ]
