/// Example tests of the neuron models beyond LIF: hand-computed trajectories, documented firing patterns,
/// modulation, gradients and parameter checks.
module Snn.Tests.NeuronTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Modules
open Snn.Tests.Assertions

/// A constant input of `value` for `steps` steps and one neuron: [T; 1; 1] in float64.
let private constant (steps: int) (value: float) = torch.zeros ([| int64 steps; 1L; 1L |], dtype = torch.float64) + value

/// Times (step indices) at which the single neuron of spikes [T; 1; 1] fired.
let private spikeTimes (spikes: torch.Tensor) =
    values spikes |> Array.indexed |> Array.filter (fun (_, z) -> z > 0.5) |> Array.map fst

let private intervals (times: int[]) = times |> Array.pairwise |> Array.map (fun (a, b) -> b - a)

let tests =
    testList "Neurons" [
        test "IF integrates without leak and soft reset keeps the remainder" {
            let p = { IfParameters.Default with Reset = Soft }
            let spikes, final = If.unrollWith Modulation.None p None (constant 14 0.25)
            Expect.equal (spikeTimes spikes) [| 3; 7; 11 |] "0.25 per step reaches 1 at steps 4, 8, 12"
            allClose 1e-12 [| 0.5 |] (values final.V) "after 14 steps: 3.5 - 3 thresholds"
        }
        test "PLIF: the initial weight stands for the initial time constant and follows SpikingJelly's update" {
            let p = { PlifParameters.Default with InitialTau = 4.0 }
            let w = torch.tensor (Plif.initialWeight p, dtype = torch.float64)
            allClose 1e-12 [| 4.0 |] (values (Plif.tau p w)) "tau"
            let spikes = Plif.unroll p w (constant 3 2.0)
            // v1 = 2/4 = 0.5, v2 = 0.5 + (2 - 0.5)/4 = 0.875, v3 = 0.875 + (2 - 0.875)/4 = 1.15625 → spike.
            Expect.equal (spikeTimes spikes) [| 2 |] "fires on the third step"
            let g = Diff.grad (fun w -> (Plif.unroll p w (constant 6 2.0)).sum ()) w
            Expect.isTrue (abs (g.ToDouble ()) > 0.0) "the time constant receives a gradient"
        }
        test "CuLIF follows the hand-computed current and potential" {
            // α = e^{-0.2}, β = e^{-0.1}, x = 1: i = 1, 1.8187, 2.4891, 3.0379; v = 0.09516, 0.25918, 0.47138, 0.71561.
            let p = { CuLifParameters.Default with VThreshold = 10.0 }
            let mutable s = CuLif.initialState p (torch.zeros ([| 1L |], dtype = torch.float64))
            let trace =
                [| for _ in 1 .. 4 do
                    let s', _ = CuLif.step p s (torch.ones ([| 1L |], dtype = torch.float64))
                    s <- s'
                    yield s'.I.ToDouble (), s'.V.ToDouble () |]
            allClose 1e-9 [| 1.0; 1.818730753078; 2.489050799114; 3.037862435208 |] (Array.map fst trace) "i"
            allClose 1e-9 [| 0.095162581964; 0.259181779318; 0.471381872684; 0.715614789574 |] (Array.map snd trace) "v"
        }
        test "PCuLIF with the initial weights equals CuLIF" {
            let p = CuLifParameters.Default
            let a, b = CuLif.initialWeights p
            let x = torch.rand ([| 20L; 2L; 5L |], dtype = torch.float64) * 3.0
            let fixedRun = CuLif.unroll p x
            let learned = CuLif.unrollParametric Modulation.None p (torch.tensor (a, dtype = torch.float64)) (torch.tensor (b, dtype = torch.float64)) x
            allClose 0.0 (values fixedRun) (values learned) "same spikes"
        }
        test "an adaptive threshold rises after every spike and lengthens the intervals" {
            let p = { AdaptiveThresholdParameters.Default with Increment = 0.3 }
            let spikes, final = AdaptiveThreshold.unrollWith Modulation.None p (constant 200 3.0)
            let gaps = intervals (spikeTimes spikes)
            Expect.isGreaterThan gaps.Length 3 "fires repeatedly"
            Expect.isGreaterThan (Array.last gaps) gaps.[0] "adaptation lengthens the inter-spike interval"
            Expect.isGreaterThan (final.Threshold.ToDouble ()) 1.0 "the threshold stays raised under firing"
        }
        test "AdLIF's spike-triggered adaptation lowers the firing rate" {
            let adapting = { AdLifParameters.Default with A = 0.0; B = 2.0 }
            let plain = { adapting with B = 0.0 }
            let count p = (AdLif.unroll p (constant 300 3.0)).sum().ToDouble ()
            Expect.isLessThan (count adapting) (count plain) "adaptation reduces the spike count"
            Expect.isGreaterThan (count adapting) 0.0 "but the neuron still fires"
        }
        test "AdLIF steps follow the hand-computed recurrences: Snn's default and seed 003's neuron" {
            let inputs = [| 6.0; 6.0; 1.0; 6.0; 6.0; 6.0; 0.0; 8.0; 8.0; 8.0; 8.0; 8.0 |]
            let run (p: AdLifParameters) =
                let mutable s = AdLif.initialState p (torch.zeros ([| 1L |], dtype = torch.float64))
                [| for x in inputs do
                    let s', z = AdLif.stepWith Modulation.None p s (torch.tensor ([| x |], dtype = torch.float64))
                    s <- s'
                    yield z.ToDouble (), s'.U.ToDouble (), s'.W.ToDouble () |]
            let check (name: string) (expected: (float * float * float)[]) (actual: (float * float * float)[]) =
                let first (a, _, _) = a
                let second (_, b, _) = b
                let third (_, _, c) = c
                Expect.equal (Array.map first actual) (Array.map first expected) $"{name}: spikes"
                allClose 1e-12 (Array.map second expected) (Array.map second actual) $"{name}: potential after the reset"
                allClose 1e-12 (Array.map third expected) (Array.map third actual) $"{name}: adaptation"
            let alpha, rho = exp (-1.0 / 5.0), exp (-1.0 / 100.0)
            // Seed 003's repository (AdLIFNode, torch path) with decays α, ρ, a = 0.3, b = 0.4, θ = 1, v_reset = 0:
            // v ← x - w + (v - x + w) α;  w ← ρ w + a h + b s (h, s of the previous step);  h ← v;  s ← H(v - 1);
            // v ← v (1 - s).
            let repository =
                let mutable v, w, h, sp = 0.0, 0.0, 0.0, 0.0
                [| for x in inputs do
                    v <- x - w + (v - x + w) * alpha
                    w <- rho * w + 0.3 * h + 0.4 * sp
                    h <- v
                    sp <- (if v - 1.0 >= 0.0 then 1.0 else 0.0)
                    v <- v * (1.0 - sp)
                    yield sp, v, w |]
            let seed = { AdLifParameters.Liu2023 with TauMem = 5.0; TauAdapt = 100.0; A = 0.3; B = 0.4 }
            check "seed 003" repository (run seed)
            // Snn's default form (soft reset, filtered adaptation on the potential after the reset):
            // h = α u + (1 - α)(x - w_prev);  w = ρ w + (1 - ρ)(a u_prev + b z_prev);  z = H(h - 1);  u = h - z.
            let filtered =
                let mutable u, w, z = 0.0, 0.0, 0.0
                [| for x in inputs do
                    let h = alpha * u + (1.0 - alpha) * (x - w)
                    let w' = rho * w + (1.0 - rho) * (0.3 * u + 0.4 * z)
                    z <- (if h >= 1.0 then 1.0 else 0.0)
                    u <- h - z
                    w <- w'
                    yield z, u, w |]
            check "default" filtered (run { AdLifParameters.Default with TauMem = 5.0; TauAdapt = 100.0; A = 0.3; B = 0.4 })
            Expect.notEqual (Array.map (fun (_, _, w) -> w) repository) (Array.map (fun (_, _, w) -> w) filtered) "the two forms are different neurons"
            Expect.isGreaterThan (repository |> Array.sumBy (fun (z, _, _) -> z)) 1.0 "the case exercises several resets"
        }
        test "AdLIF's DetachReset removes the reset from the gradient" {
            // One step from rest with x = 8: h = (1 - α) x ≈ 1.45 fires; hard reset u = h (1 - z).
            // Detached: ∂u/∂x = (1 - z)(1 - α) = 0; attached: ∂u/∂x = (1 - α)(1 - z - h g'(h - θ)) ≠ 0.
            let grad (detach: bool) =
                let p = { AdLifParameters.Liu2023 with TauMem = 5.0; DetachReset = detach }
                let x = torch.tensor ([| 8.0 |], dtype = torch.float64)
                let _, z = AdLif.stepWith Modulation.None p (AdLif.initialState p x) x
                Expect.equal (z.ToDouble ()) 1.0 "fires"
                Diff.grad (fun (x: torch.Tensor) -> (fst (AdLif.stepWith Modulation.None p (AdLif.initialState p x) x)).U.sum ()) x
                |> fun g -> g.ToDouble ()
            Expect.equal (grad true) 0.0 "no gradient through the detached reset"
            Expect.isLessThan (grad false) 0.0 "the attached reset pulls the potential down as x grows"
        }
        test "quadratic and exponential IF are silent for a weak input and fire for a strong one" {
            for p in [ NonlinearIfParameters.DefaultQuadratic; NonlinearIfParameters.DefaultExponential ] do
                let weak = NonlinearIf.unroll p (constant 2000 1.0)
                let strong = NonlinearIf.unroll p (constant 2000 30.0)
                Expect.equal (weak.sum().ToDouble ()) 0.0 $"{p.Shape}: weak input"
                Expect.isGreaterThan (strong.sum().ToDouble ()) 2.0 $"{p.Shape}: strong input fires repeatedly"
        }
        test "Izhikevich RS adapts its inter-spike interval, FS does not" {
            // dt = 0.25 ms so that the 1-step timing jitter stays small against the intervals.
            let run name = spikeTimes (Izhikevich.unroll { Izhikevich.preset name with Dt = 0.25; Substeps = 1 } (constant 2000 10.0))
            let rs = intervals (run "RS") |> Array.map float
            let fs = intervals (run "FS") |> Array.map float
            Expect.isGreaterThan rs.Length 3 "RS fires"
            Expect.isGreaterThan fs.Length rs.Length "FS fires faster"
            Expect.isGreaterThan (Array.last rs / rs.[0]) 1.5 $"RS intervals lengthen: %A{rs}"
            let fsTail = fs.[2..]
            Expect.isLessThan ((Array.max fsTail - Array.min fsTail) / Array.average fsTail) 0.2 $"FS intervals stay constant: %A{fs}"
        }
        test "Izhikevich's 130 mV cap is gradient-transparent: capped steps pass the Euler step's gradient" {
            // One Euler step from v = 40 mV with a large input overshoots 130 mV; a threshold of 1000 mV keeps z = 0,
            // so the new v is min(v + dt·(0.04v² + 5v + 140 - u + I), 130) and ∂v'/∂I = dt (uncapped derivative).
            let p = { Izhikevich.preset "RS" with Dt = 0.5; Substeps = 1 }
            let s0 = { Izhikevich.initialState p (torch.zeros ([| 1L |], dtype = torch.float64)) with V = torch.tensor [| 40.0 |] }
            use current = torch.tensor([| 500.0 |]).requires_grad_ true
            let s1, z = Izhikevich.stepWith (Modulation.WithThreshold (torch.tensor 1000.0)) p s0 current
            Expect.equal (z.ToDouble ()) 0.0 "no spike under the raised threshold"
            Expect.equal (s1.V.ToDouble ()) 130.0 "the value is capped"
            let g = Diff.gradients [| s1.V.sum () |] None [| current |] false false
            // v'' = v'(1 - z) + z·c with z = H((v' - 1000)/scale): ∂v''/∂I = dt·(1 + (c - 130)·g'((130 - 1000)/scale)/scale).
            let slope = (Surrogate.derivative p.Surrogate (torch.tensor ((130.0 - 1000.0) / p.SurrogateScale))).ToDouble () / p.SurrogateScale
            Expect.floatClose Accuracy.veryHigh (g.[0].ToDouble ()) (p.Dt * (1.0 + (p.C - 130.0) * slope)) "the uncapped Euler step's gradient, not 0"
        }
        test "Izhikevich bounded rate respects the minimum interval" {
            let p = { Izhikevich.preset "FS" with MinInterval = 15.0 }
            let gaps = intervals (spikeTimes (Izhikevich.unroll p (constant 400 30.0)))
            Expect.isGreaterThan gaps.Length 3 "fires"
            Expect.isGreaterThanOrEqual (Array.min gaps) 15 "no interval below 15 ms"
        }
        test "Izhikevich is differentiable: the spike count has a gradient with respect to the current" {
            let g = Diff.grad (fun x -> (Izhikevich.unroll (Izhikevich.preset "RS") x).sum ()) (constant 100 10.0)
            Expect.isTrue (values g |> Array.forall Double.IsFinite) "finite"
            Expect.isGreaterThan (values g |> Array.sum) 0.0 "more current, more spikes"
        }
        test "Hodgkin-Huxley rests near -65 mV, is silent below rheobase and fires repeatedly above it" {
            let p = HodgkinHuxleyParameters.Default
            let _, rest = HodgkinHuxley.run Modulation.None p (fun _ _ -> ()) (constant 500 0.0)
            Expect.floatClose { absolute = 1.0; relative = 0.0 } (rest.V.ToDouble ()) -65.0 "resting potential"
            let below = HodgkinHuxley.unroll p (constant 1000 2.0)
            Expect.equal (below.sum().ToDouble ()) 0.0 "2 µA/cm² is below rheobase"
            let above = spikeTimes (HodgkinHuxley.unroll p (constant 1000 10.0))
            Expect.isGreaterThan above.Length 4 "10 µA/cm² fires repeatedly over 100 ms"
        }
        test "Hodgkin-Huxley is differentiable through its continuous dynamics" {
            let g = Diff.grad (fun x -> (HodgkinHuxley.unroll HodgkinHuxleyParameters.Default x).sum ()) (constant 300 10.0)
            Expect.isTrue (values g |> Array.forall Double.IsFinite) "finite gradients"
            Expect.isTrue (values g |> Array.exists (fun v -> v <> 0.0)) "non-zero gradients"
        }
        test "a per-sample threshold tensor changes the spikes without touching anything else" {
            let p = { LifParameters.Default with TauMem = 5.0 }
            let x = torch.zeros ([| 50L; 2L; 1L |], dtype = torch.float64) + 2.0
            let thresholds = (torch.tensor [| 1.0; 1.8 |]).reshape (2L, 1L)
            let spikes, _ = Lif.unrollWith (Modulation.WithThreshold thresholds) p None x
            let counts = values (spikes.sum (0L))
            Expect.isGreaterThan counts.[0] counts.[1] "the higher threshold fires less"
            let low, _ = Lif.unrollWith Modulation.None p None x
            allClose 0.0 [| counts.[0] |] [| (values (low.sum (0L))).[0] |] "threshold 1 equals the parameter threshold"
        }
        test "an external current is the same as adding it to the input" {
            let p = CuLifParameters.Default
            let x = torch.rand ([| 30L; 3L; 4L |], dtype = torch.float64)
            let current = torch.tensor (0.7, dtype = torch.float64)
            let modulated, _ = CuLif.unrollWith (Modulation.WithCurrent current) p x
            allClose 0.0 (values (CuLif.unroll p (x + current))) (values modulated) "I_ext"
        }
        test "refractory neurons hold their potential and stay silent" {
            let p = { LifParameters.Default with RefractorySteps = 3; TauMem = 2.0 }
            let spikes = Lif.unroll p (constant 30 5.0)
            let gaps = intervals (spikeTimes spikes)
            Expect.isTrue (gaps |> Array.forall (fun g -> g >= 4)) $"at least 3 silent steps after each spike: %A{gaps}"
        }
        test "a PLIF layer learns its time constant; PCuLIF layers expose their decays as trainable parameters" {
            use plif = new PlifLayer("plif", { PlifParameters.Default with InitialTau = 4.0 }, [| 3L |])
            let before = values plif.Tau
            let optimizer = torch.optim.SGD (plif.parameters (), 0.5)
            let x = torch.rand ([| 10L; 2L; 3L |]) * 2.0f
            for _ in 1 .. 5 do
                optimizer.zero_grad ()
                Diff.backward ((plif.forward x).sum ())
                optimizer.step () |> ignore
            Expect.notEqual (values plif.Tau) before "τ moved"
            Expect.isTrue (values plif.Tau |> Array.forall (fun tau -> tau > 1.0)) "τ stays above one step"
            use fixedLayer = new CuLifLayer("culif", CuLifParameters.Default)
            use learned = new CuLifLayer("pculif", CuLifParameters.Default, true, [| 3L |])
            let trainable (m: torch.nn.Module) = m.parameters () |> Seq.filter (fun p -> p.requires_grad) |> Seq.length
            Expect.equal (trainable fixedLayer, trainable learned) (0, 2) "CuLIF none, PCuLIF α and β"
        }
        test "layers give the same spikes with the fused kernel as with the reference" {
            let x = torch.rand ([| 20L; 4L; 6L |]) * 3.0f
            let layers : NeuronLayer list =
                [ new PlifLayer("plif", PlifParameters.Default, [| 6L |]); new ModulatedLifLayer("lif", LifParameters.Default)
                  new CuLifLayer("culif", CuLifParameters.Default); new IfLayer("if", IfParameters.Default) ]
            for layer in layers do
                Expect.equal layer.Kernel Fused $"{layer.GetName ()} runs the fused kernel by default"
                layer.Kernel <- Reference
                let reference = values (layer.forward x)
                layer.Kernel <- Fused
                Expect.equal (values (layer.forward x)) reference $"{layer.GetName ()}"
                Expect.isGreaterThan (Array.sum reference) 0.0 "the input makes neurons fire"
        }
        test "a composed network runs the fused kernel by default, with the reference's spikes and gradients" {
            let build () =
                torch.manual_seed 11L |> ignore
                new SpikingSequential("net", [|
                    TimeLayers.linear "fc1" 6 8; new ModulatedLifLayer("lif", { LifParameters.Default with TauMem = 5.0 })
                    TimeLayers.linear "fc2" 8 8; new PlifLayer("plif", PlifParameters.Default, [| 8L |])
                    TimeLayers.linear "fc3" 8 8; new CuLifLayer("culif", CuLifParameters.Default)
                    TimeLayers.linear "fc4" 8 3; new IfLayer("if", IfParameters.Default) |])
            let run (kernel: Kernel option) =
                use net = build ()
                for m in net.modules () do
                    match m with
                    | :? NeuronLayer as n ->
                        Expect.equal n.Kernel Fused $"{n.GetName ()} is fused by default"
                        kernel |> Option.iter (fun k -> n.Kernel <- k)
                    | _ -> ()
                torch.manual_seed 12L |> ignore
                let x = torch.rand ([| 16L; 5L; 6L |]) * 4.0f
                let out = net.forward x
                out.sum().backward ()
                values out, net.parameters () |> Seq.filter (fun p -> p.requires_grad) |> Seq.map (fun p -> values p.grad) |> Array.concat
            let fusedSpikes, fusedGrads = run None
            let referenceSpikes, referenceGrads = run (Some Reference)
            Expect.equal fusedSpikes referenceSpikes "same spikes"
            Expect.isGreaterThan (Array.sum fusedSpikes) 0.0 "the output fires"
            allClose 1e-5 referenceGrads fusedGrads "same gradients"
        }
        test "a layer's threshold can be switched between runs without touching its weights" {
            use layer = new ModulatedLifLayer("lif", { LifParameters.Default with TauMem = 5.0 })
            let x = torch.zeros ([| 40L; 1L; 1L |]) + 1.5f
            let count () = (layer.forward x).sum().ToDouble ()
            let baseline = count ()
            layer.SetThreshold (torch.tensor 1.4f)
            let raised = count ()
            layer.ClearModulation ()
            Expect.isLessThan raised baseline "a higher threshold fires less"
            Expect.equal (count ()) baseline "clearing restores the parameter threshold"
        }
        test "bad parameters and inputs name the offending parameter" {
            let named (f: unit -> unit) (name: string) =
                let e = Expect.throwsC f id
                Expect.isTrue (e :? ArgumentException) $"{name}: ArgumentException"
                Expect.stringContains e.Message name $"names {name}"
            named (fun () -> Lif.validate { LifParameters.Default with Dt = 0.0 } |> ignore) "Dt"
            named (fun () -> CuLif.validate { CuLifParameters.Default with TauSyn = -1.0 } |> ignore) "TauSyn"
            named (fun () -> Plif.validate { PlifParameters.Default with InitialTau = 0.5 } |> ignore) "InitialTau"
            named (fun () -> AdLif.validate { AdLifParameters.Default with B = 5.0 } |> ignore) "B"
            named (fun () -> Izhikevich.preset "XY" |> ignore) "XY"
            named (fun () -> HodgkinHuxley.validate { HodgkinHuxleyParameters.Default with Dt = 1.0 } |> ignore) "Dt"
            named (fun () -> NonlinearIf.validate { NonlinearIfParameters.DefaultQuadratic with Shape = Quadratic (0.04, -80.0) } |> ignore) "vCritical"
            let state = Lif.initialState LifParameters.Default (torch.zeros ([| 2L; 3L |]))
            named (fun () -> Neuron.checkInput "input" (Some state.V) (torch.zeros ([| 2L; 4L |]))) "input"
            named (fun () -> Neuron.checkInput "input" None (torch.tensor [| nan |])) "input"
            named (fun () -> Lif.unroll LifParameters.Default (torch.tensor([| 1.0; nan |]).reshape (2L, 1L)) |> ignore) "inputs"
            named (fun () -> CuLif.unroll CuLifParameters.Default (torch.tensor([| nan |]).reshape (1L, 1L)) |> ignore) "inputs"
            named (fun () -> Lif.unrollFrom LifParameters.Default (Some state) (torch.zeros ([| 5L; 2L; 4L |])) |> ignore) "state"
            // The fused kernels find a NaN as they read the input (at the vector body and at the scalar tail), with
            // and without autograd recording, and keep working afterwards.
            for vectorised in [ true; false ] do
                FusedKernelSettings.Vectorised <- vectorised
                try
                    for position in [ 3; 37 ] do
                        let input () =
                            let x = torch.ones ([| 2L; 1L; 40L |])
                            x.[1L, 0L, int64 position] <- torch.tensor nan
                            x
                        named (fun () -> Dynamics.lif Fused LifParameters.Default (input ()) |> ignore) "inputs"
                        named (fun () -> Dynamics.lif Fused LifParameters.Default ((input ()).requires_grad_ true) |> ignore) "inputs"
                        named (fun () -> Dynamics.cuLif Fused CuLifParameters.Default (input ()) |> ignore) "inputs"
                        named (fun () -> Dynamics.ifNeuron Fused IfParameters.Default (input ()) |> ignore) "inputs"
                finally
                    FusedKernelSettings.Vectorised <- true
            // IF with threshold 1 and input 2 fires at every step: 2 steps × 40 neurons.
            let after = Dynamics.ifNeuron Fused IfParameters.Default ((torch.ones ([| 2L; 1L; 40L |]) * 2.0).requires_grad_ true)
            after.sum().backward ()
            Expect.equal (after.sum().ToDouble ()) 80.0 "the kernel runs normally after rejecting NaN"
        }
    ]
