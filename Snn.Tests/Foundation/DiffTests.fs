module Snn.Tests.DiffTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Tests.Assertions

let private cube (x: torch.Tensor) = (x * x * x).sum ()

let tests =
    testList "Diff" [
        test "grad of sum(x^3) is 3x^2" {
            let x = torch.tensor [| -1.5; 0.0; 2.0; 3.0 |]
            allClose 1e-12 [| 6.75; 0.0; 12.0; 27.0 |] (values (Diff.grad cube x)) "3x^2"
        }
        test "fgrad returns the value with the gradient" {
            let x = torch.tensor [| 1.0; 2.0 |]
            let value, g = Diff.fgrad cube x
            allClose 1e-12 [| 9.0 |] (values value) "1 + 8"
            allClose 1e-12 [| 3.0; 12.0 |] (values g) "3x^2"
            Expect.isFalse value.requires_grad "a top-level value carries no graph"
        }
        test "hvp of sum(x^3) with v is 6 x v" {
            let x = torch.tensor [| 1.0; -2.0; 0.5 |]
            let v = torch.tensor [| 0.3; 1.0; -4.0 |]
            allClose 1e-12 [| 1.8; -12.0; -12.0 |] (values (Diff.hvp cube x v)) "6 x v"
        }
        test "vjp and jvp of an elementwise square agree with 2 x v" {
            let x = torch.tensor [| 1.0; 2.0; -3.0 |]
            let v = torch.tensor [| 1.0; 0.5; 2.0 |]
            let square (x: torch.Tensor) = x * x
            allClose 1e-12 [| 2.0; 2.0; -12.0 |] (values (Diff.vjp square x v)) "vjp"
            allClose 1e-12 [| 2.0; 2.0; -12.0 |] (values (Diff.jvp square x v)) "jvp"
        }
        test "jvp of a non-symmetric linear map is A v, vjp is A^T v" {
            let a = shaped [| 2L; 2L |] [| 1.0; 2.0; 3.0; 4.0 |]
            let f (x: torch.Tensor) = a.matmul x
            let x = torch.tensor [| 0.0; 0.0 |]
            let v = torch.tensor [| 1.0; -1.0 |]
            allClose 1e-12 [| -1.0; -1.0 |] (values (Diff.jvp f x v)) "A v"
            allClose 1e-12 [| -2.0; -2.0 |] (values (Diff.vjp f x v)) "A^T v"
        }
        test "nested grad: d/dx sum(grad(sum x^3)) = 6x" {
            let x = torch.tensor [| 1.0; 2.0; -1.0 |]
            let outer = Diff.grad (fun x -> (Diff.grad cube x).sum ()) x
            allClose 1e-12 [| 6.0; 12.0; -6.0 |] (values outer) "6x"
        }
        test "nested grad does not confuse perturbations (Siskind & Pearlmutter)" {
            // d/dx [ x · (d/dy (x + y) at y = x) ] = d/dx [ x · 1 ] = 1, not 2.
            let x = torch.tensor [| 1.0 |]
            let result = Diff.grad (fun x -> (x * Diff.grad (fun y -> (x + y).sum ()) x).sum ()) x
            allClose 1e-12 [| 1.0 |] (values result) "perturbation confusion"
        }
        test "third derivative by nesting: d3/dx3 x^4 = 24x" {
            let x = torch.tensor [| 2.0 |]
            let f (x: torch.Tensor) = (x * x * x * x).sum ()
            let d1 (x: torch.Tensor) = (Diff.grad f x).sum ()
            let d2 (x: torch.Tensor) = (Diff.grad d1 x).sum ()
            allClose 1e-9 [| 48.0 |] (values (Diff.grad d2 x)) "24x"
        }
        test "guard: gradient of a non-scalar output raises ArgumentException instead of aborting" {
            let x = torch.tensor([| 1.0; 2.0 |]).requires_grad_ true
            let y = x * x
            Expect.throwsT<ArgumentException> (fun () -> Diff.gradients [| y |] None [| x |] false false |> ignore) "non-scalar"
            Expect.throwsT<ArgumentException> (fun () -> Diff.grad (fun x -> x * 2.0) x |> ignore) "grad of a vector function"
        }
        test "guard: a second pass through a freed graph raises InvalidOperationException" {
            let x = torch.tensor([| 1.0; 2.0 |]).requires_grad_ true
            let y = (x * x).sum ()
            Diff.gradients [| y |] None [| x |] false false |> ignore
            Expect.throwsT<InvalidOperationException> (fun () -> Diff.gradients [| y |] None [| x |] false false |> ignore) "gradients twice"
            Expect.throwsT<InvalidOperationException> (fun () -> Diff.backward y) "backward after gradients"
        }
        test "guard: retaining the graph allows a second pass" {
            let x = torch.tensor([| 1.0; 2.0 |]).requires_grad_ true
            let y = (x * x).sum ()
            let first = Diff.gradients [| y |] None [| x |] true false
            let second = Diff.gradients [| y |] None [| x |] false false
            allClose 0.0 (values first.[0]) (values second.[0]) "same gradient twice"
        }
        test "guard: mismatched vector shape and independent outputs are rejected" {
            let x = torch.tensor [| 1.0; 2.0 |]
            Expect.throwsT<ArgumentException> (fun () -> Diff.hvp cube x (torch.tensor [| 1.0 |]) |> ignore) "v of the wrong shape"
            let constant = torch.tensor [| 3.0 |]
            Expect.throwsT<ArgumentException> (fun () -> Diff.backward constant) "no graph"
        }
        test "hvpOf on parameters equals the Hessian of a quadratic form" {
            // L(w) = 1/2 wᵀ A w with symmetric A: H = A.
            let a = shaped [| 2L; 2L |] [| 2.0; 1.0; 1.0; 3.0 |]
            let w = torch.tensor([| 0.5; -1.0 |]).requires_grad_ true
            let loss = 0.5 * w.matmul(a.matmul w)
            let hv = Diff.hvpOf loss [| w |] [| torch.tensor [| 1.0; 2.0 |] |]
            allClose 1e-12 [| 4.0; 7.0 |] (values hv.[0]) "A v"
        }
    ]
