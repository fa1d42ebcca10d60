/// Laws of the implicit hypergradient on random strongly convex quadratic inner problems, where everything has a
/// closed form: L_T(w, φ) = ½ wᵀAw − wᵀBφ with A symmetric positive definite, L_V(w) = ½‖w − c‖²,
/// w*(φ) = A⁻¹Bφ and dL_V/dφ = Bᵀ A⁻¹ (w* − c).
module Snn.PropertyTests.HypergradientProperties

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Snn
open Snn.PropertyTests.Generators

type private Tensor = torch.Tensor

/// n = 5 weights, m = 2 hyperparameters: a 5×5 factor M (A = MMᵀ + δI), B (5×2), c (5), φ (2), δ.
let private problems =
    gen {
        let! m = Gen.arrayOfLength 25 (floatIn -1.0 1.0)
        let! b = Gen.arrayOfLength 10 (floatIn -1.0 1.0)
        let! c = Gen.arrayOfLength 5 (floatIn -1.0 1.0)
        let! phi = Gen.arrayOfLength 2 (floatIn -1.0 1.0)
        let! delta = floatIn 0.2 2.0
        return m, b, c, phi, delta
    } |> Arb.fromGen

let private setup (m: float[], b: float[], c: float[], phi: float[], delta: float) =
    let mm = torch.tensor(m).reshape (5L, 5L)
    let a = mm.matmul (mm.t ()) + torch.eye (5L, dtype = torch.float64) * delta
    let b = torch.tensor(b).reshape (5L, 2L)
    let c, phi = torch.tensor c, torch.tensor phi
    let wStar = torch.linalg.solve (a, b.matmul phi)
    let exact = b.t().matmul (torch.linalg.solve (a, wStar - c))
    let train (w: Tensor[]) (p: Tensor[]) = w.[0].matmul (a.matmul w.[0]) * 0.5 - w.[0].matmul (b.matmul p.[0])
    let outer (w: Tensor[]) (_: Tensor[]) = (let d = w.[0] - c in d.dot d * 0.5)
    let hyper inverse =
        let w = [| wStar.detach().clone().requires_grad_ true |]
        let p = [| phi.detach().clone().requires_grad_ true |]
        (Hypergradient.compute inverse train outer w p).[0]
    a, exact, hyper

let tests =
    testList "hypergradient" [
        testPropertyWithConfig config "conjugate gradient with as many iterations as weights gives the closed form" <|
            Prop.forAll problems (fun problem ->
                let _, exact, hyper = setup problem
                let h = hyper (Hypergradient.ConjugateGradient (5, 0.0, 0.0))
                (h - exact).norm().ToDouble () <= 1e-8 * (1.0 + exact.norm().ToDouble ()))

        testPropertyWithConfig config "Neumann: the inverse-Hessian-vector error contracts at least by 1 - λmin/λmax per term" <|
            Prop.forAll problems (fun problem ->
                let a, _, _ = setup problem
                let _, b, c, phi, _ = problem
                let c = torch.tensor c
                let rhs = torch.tensor(b).reshape(5L, 2L).matmul (torch.tensor phi)
                let wStar: Tensor = torch.linalg.solve (a, rhs)
                let w = [| wStar.requires_grad_ true |]
                let v = [| (w.[0] - c).detach () |]
                let exact = torch.linalg.solve (a, v.[0])
                let eigenvalues = torch.linalg.eigvalsh a
                let lambdaMax, lambdaMin = eigenvalues.max().ToDouble (), eigenvalues.min().ToDouble ()
                let alpha = 1.0 / lambdaMax
                let train: Tensor = (w.[0].matmul (a.matmul w.[0])) * 0.5
                let gradients = Hypergradient.differentiableGradients train w
                // E_J = −(I − αA)^{J+1} A⁻¹v, so ‖E_J‖ ≤ (1 − αλ_min)^{J+1} ‖A⁻¹v‖ and ‖E_J‖ never grows with J.
                let error j = (Hypergradient.inverseHessianVector (Hypergradient.Neumann (j, alpha)) gradients w v).[0] - exact
                let terms = [ 0; 1; 4; 16; 64 ]
                let errors = terms |> List.map (fun j -> (error j).norm().ToDouble ())
                let rate = 1.0 - lambdaMin * alpha
                let scale = exact.norm().ToDouble ()
                let monotone = errors |> List.pairwise |> List.forall (fun (e1, e2) -> e2 <= e1 + 1e-12)
                let bounded = List.forall2 (fun j e -> e <= rate ** float (j + 1) * scale * (1.0 + 1e-9) + 1e-12) terms errors
                monotone && bounded)
    ]
