module Snn.Tests.HypergradientTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Modules
open Snn.Tests.Assertions

type private Tensor = torch.Tensor

let private leaf (t: Tensor) = t.detach().clone().requires_grad_ true

/// L_T(w, φ) = ½ wᵀAw − wᵀBφ (minimiser w* = A⁻¹Bφ); L_V(w, φ) = ½‖w − c‖² + ½κ‖φ‖², so
/// dL_V/dφ = Bᵀ A⁻¹ (w* − c) + κφ in closed form.
type private Quadratic =
    { A: Tensor; B: Tensor; C: Tensor; Kappa: float }
    member q.Train (w: Tensor[]) (phi: Tensor[]) =
        let w, phi = w.[0], phi.[0]
        (w.matmul (q.A.matmul w)) * 0.5 - w.matmul (q.B.matmul phi)
    member q.Outer (w: Tensor[]) (phi: Tensor[]) =
        let d = w.[0] - q.C
        d.dot d * 0.5 + phi.[0].dot phi.[0] * (q.Kappa * 0.5)
    member q.Minimiser (phi: Tensor) = torch.linalg.solve (q.A, q.B.matmul phi)
    member q.ClosedForm (phi: Tensor) =
        q.B.t().matmul (torch.linalg.solve (q.A, q.Minimiser phi - q.C)) + phi * q.Kappa

let private quadratic (seed: int64) (n: int64) (m: int64) =
    use g = new torch.Generator (uint64 seed)
    let r (shape: int64[]) = torch.randn (shape, dtype = torch.float64, generator = g)
    let mm = r [| n; n |]
    { A = mm.matmul (mm.t ()) / float n + torch.eye (n, dtype = torch.float64); B = r [| n; m |]; C = r [| n |]; Kappa = 0.3 },
    r [| m |]

/// A small recurrent spiking network made smooth by ASGL's analog forward (noise p = 1: every spike is H_α(x)), so
/// that the outer loss is differentiable in the hyperparameter and a finite difference is meaningful. Weights: input
/// → 5 LIF neurons → main head (3 classes) and auxiliary head (2 classes) on the firing rates. Hyperparameter: the
/// raw weight ρ of the auxiliary loss, γ = softplus(ρ).
type private SmoothSnn =
    { Train: Tensor; TrainMain: Tensor; TrainAux: Tensor; Valid: Tensor; ValidMain: Tensor
      Neuron: LifParameters }
    member s.Rates (w: Tensor[]) (x: Tensor) =
        let current = torch.nn.functional.linear (x, w.[0], w.[1])
        (Lif.unroll s.Neuron current).mean ([| 0L |])
    member s.TrainLoss (w: Tensor[]) (phi: Tensor[]) =
        let rates = s.Rates w s.Train
        let main = torch.nn.functional.cross_entropy (torch.nn.functional.linear (rates, w.[2], w.[3]), s.TrainMain)
        let aux = torch.nn.functional.cross_entropy (torch.nn.functional.linear (rates, w.[4], w.[5]), s.TrainAux)
        let l2 = w |> Array.map (fun t -> (t * t).sum ()) |> Array.reduce (+)
        main + torch.nn.functional.softplus phi.[0] * aux + l2 * 0.01
    member s.OuterLoss (w: Tensor[]) (_: Tensor[]) =
        let rates = s.Rates w s.Valid
        torch.nn.functional.cross_entropy (torch.nn.functional.linear (rates, w.[2], w.[3]), s.ValidMain)

let private smoothSnn () =
    use g = new torch.Generator (7UL)
    let spikes (b: int64) =
        let u = torch.rand ([| 4L; b; 5L |], dtype = torch.float64, generator = g)
        u.lt(torch.tensor 0.5).``to`` (torch.float64)
    // Labels the network can learn from its input: main = the busiest of input channels 0-2; auxiliary = whether
    // channel 3 fired more than channel 4 (a second task sharing the hidden layer).
    let mainLabels (x: Tensor) = x.sum([| 0L |]).narrow(1L, 0L, 3L).argmax (1L)
    let auxLabels (x: Tensor) = (let c = x.sum([| 0L |]) in c.select(1L, 3L).gt(c.select (1L, 4L)).``to`` (torch.int64))
    let width = torch.tensor (0.5, dtype = torch.float64)
    let neuron = { LifParameters.Default with Dt = 5.0; Surrogate = Surrogate.Asgl (AsglShape.LogisticRamp, width, 1.0) }
    let train, valid = spikes 16L, spikes 16L
    let net = { Train = train; TrainMain = mainLabels train; TrainAux = auxLabels train; Valid = valid; ValidMain = mainLabels valid; Neuron = neuron }
    let init (shape: int64[]) = torch.randn (shape, dtype = torch.float64, generator = g) * 0.5
    let w = [| init [| 5L; 5L |] * 3.0; init [| 5L |] + 0.5; init [| 3L; 5L |]; init [| 3L |]; init [| 2L; 5L |]; init [| 2L |] |]
    net, w

/// Minimises L_T(·, φ) from `start`: Adam steps, then damped Newton steps (conjugate-gradient solves of
/// (H + λI) s = ∇ with λ = min(‖∇‖, 0.01)), falling back to more Adam steps where the loss is not locally convex,
/// until ‖∇‖ < 1e-10.
let private solveInner (loss: Tensor[] -> Tensor[] -> Tensor) (phi: Tensor[]) (start: Tensor[]) (adamSteps: int) : Tensor[] =
    let adam (from: Tensor[]) (steps: int) =
        let parameters = from |> Array.map (fun t -> new TorchSharp.Modules.Parameter (t.detach().clone ()))
        let optimizer = torch.optim.Adam (parameters, 0.05)
        let tensors = parameters |> Array.map (fun p -> p :> Tensor)
        for _ in 1 .. steps do
            optimizer.zero_grad ()
            (loss tensors phi).backward ()
            optimizer.step () |> ignore
        parameters |> Array.map (fun p -> leaf p)
    let mutable current = if adamSteps > 0 then adam start adamSteps else start |> Array.map leaf
    let mutable norm = infinity
    let mutable k = 0
    while norm > 1e-10 && k < 30 do
        let gradients = Hypergradient.differentiableGradients (loss current phi) current
        norm <- sqrt (Hypergradient.dot gradients gradients)
        if norm > 1e-10 then
            let solve = Hypergradient.ConjugateGradient (100, (if norm > 1e-6 then 1e-4 else 1e-10), min norm 1e-2)
            try
                let step = Hypergradient.inverseHessianVector solve gradients current gradients
                current <- Array.map2 (fun (c: Tensor) (s: Tensor) -> leaf (c - s)) current step
            with :? System.InvalidOperationException -> current <- adam current 50
        k <- k + 1
    if norm > 1e-10 then failwith $"inner problem not solved: gradient norm {norm}"
    current

let tests =
    testList "Hypergradient" [
        test "on a quadratic inner problem the conjugate-gradient hypergradient equals the closed form" {
            let q, phi0 = quadratic 1L 6L 3L
            let w = [| leaf (q.Minimiser phi0) |]
            let phi = [| leaf phi0 |]
            let h = Hypergradient.compute (Hypergradient.ConjugateGradient (50, 1e-14, 0.0)) q.Train q.Outer w phi
            allClose 1e-10 (values (q.ClosedForm phi0)) (values h.[0]) "Bᵀ A⁻¹ (w* − c) + κφ"
        }
        test "the truncated Neumann series reaches the closed form with enough terms" {
            let q, phi0 = quadratic 2L 6L 3L
            let lambdaMax = (torch.linalg.eigvalsh q.A).max().ToDouble ()
            let exact = q.ClosedForm phi0
            let error terms =
                let w = [| leaf (q.Minimiser phi0) |]
                let h = Hypergradient.compute (Hypergradient.Neumann (terms, 1.0 / lambdaMax)) q.Train q.Outer w [| leaf phi0 |]
                (h.[0] - exact).norm().ToDouble ()
            let errors = [ 0; 2; 8; 32; 128; 1024 ] |> List.map error
            Expect.isLessThan (List.last errors) 1e-6 $"1024 terms reach the closed form: %A{errors}"
            Expect.isGreaterThan (List.head errors) 1e-3 "a single term is a coarse estimate (the test can tell)"
        }
        test "on a small spiking network the hypergradient matches a finite difference of the re-solved outer loss" {
            let net, start = smoothSnn ()
            let rho = 0.3
            let at (r: float) (from: Tensor[]) (adam: int) =
                let phi = [| torch.tensor(r, dtype = torch.float64).requires_grad_ true |]
                phi, solveInner net.TrainLoss phi from adam
            let phi, wStar = at rho start 150
            let hyper = Hypergradient.compute (Hypergradient.ConjugateGradient (400, 1e-14, 0.0)) net.TrainLoss net.OuterLoss wStar phi
            let eps = 1e-4
            let outerAt r =
                let p, w = at r wStar 0
                (net.OuterLoss w p).ToDouble ()
            let finite = (outerAt (rho + eps) - outerAt (rho - eps)) / (2.0 * eps)
            let implicitValue = hyper.[0].ToDouble ()
            Expect.isGreaterThan (abs finite) 1e-4 $"the auxiliary weight matters for the outer loss (finite difference {finite})"
            Expect.floatClose { absolute = 1e-7; relative = 1e-4 } implicitValue finite "implicit hypergradient = finite difference"
            // The 3-term Neumann estimate of AuxiLearn points the same way.
            let gradients = Hypergradient.differentiableGradients (net.TrainLoss wStar phi) wStar
            let lambdaMax =
                // power iteration on H for a safe Neumann scale
                let mutable v = wStar |> Array.map torch.randn_like
                let mutable lam = 0.0
                for _ in 1 .. 30 do
                    let hv = Hypergradient.hessianVector gradients wStar v
                    lam <- sqrt (Hypergradient.dot hv hv) / sqrt (Hypergradient.dot v v)
                    v <- hv
                lam
            let phi2, w2 = at rho wStar 0
            let neumann = Hypergradient.compute (Hypergradient.Neumann (3, 1.0 / lambdaMax)) net.TrainLoss net.OuterLoss w2 phi2
            Expect.equal (sign (neumann.[0].ToDouble ())) (sign finite) "3-term Neumann has the sign of the true hypergradient"
        }
        test "conjugate gradient refuses negative curvature with a message naming the remedy" {
            let w = [| leaf (torch.tensor [| 1.0; 2.0 |]) |]
            let phi = [| leaf (torch.tensor [| 0.5 |]) |]
            let train (w: Tensor[]) (p: Tensor[]) = -(w.[0] * w.[0]).sum () + (w.[0].sum () * p.[0].sum ())
            let outer (w: Tensor[]) (_: Tensor[]) = (w.[0] * w.[0]).sum ()
            let e = Expect.throwsC (fun () -> Hypergradient.compute (Hypergradient.ConjugateGradient (10, 0.0, 0.0)) train outer w phi |> ignore) id
            Expect.isTrue (e :? InvalidOperationException) "an InvalidOperationException"
            Expect.stringContains e.Message "damping" "names the remedy"
        }
        test "invalid settings name the field" {
            let check (m: Hypergradient.InverseHessian) (field: string) =
                let e = Expect.throwsC (fun () -> m.Validate ()) id
                Expect.stringContains e.Message field "names the field"
            check (Hypergradient.Neumann (-1, 0.1)) "terms"
            check (Hypergradient.Neumann (3, 0.0)) "scale"
            check (Hypergradient.ConjugateGradient (0, 1e-6, 0.0)) "iterations"
            check (Hypergradient.ConjugateGradient (5, 1e-6, -1.0)) "damping"
        }
    ]
