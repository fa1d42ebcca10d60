module Snn.Tests.SurrogateTests

open Expecto
open TorchSharp
open Snn
open Snn.Tests.Assertions

let private points = [| -3.0; -1.0; -0.25; -1e-9; 0.0; 1e-9; 0.3; 1.0; 4.0 |]

let private spikeSum (s: Surrogate) (x: torch.Tensor) = (Surrogate.spike s x).sum ()

let private familyTests (s: Surrogate) =
    testList (sprintf "%A" s) [
        test "forward is exactly Heaviside, H(0) = 1" {
            let x = torch.tensor(points).requires_grad_ true
            let expected = points |> Array.map (fun p -> if p >= 0.0 then 1.0 else 0.0)
            Expect.equal (values (Surrogate.spike s x)) expected "spike(x) = H(x) exactly"
        }
        test "backward is the closed-form derivative and a finite difference of the primitive" {
            let x = torch.tensor points
            let g = values (Diff.grad (spikeSum s) x)
            allClose 1e-12 (values (Surrogate.derivative s x)) g "closed form"
            let h = 1e-6
            let fd = values (((Surrogate.primitive s (x + h)) - (Surrogate.primitive s (x - h))) / (2.0 * h))
            allClose 1e-7 fd g "central difference of g"
        }
        test "second derivative via hvp matches a finite difference of g'" {
            let x = torch.tensor points
            let ones = torch.ones_like x
            let second = values (Diff.hvp (spikeSum s) x ones)
            let h = 1e-5
            let fd = values (((Surrogate.derivative s (x + h)) - (Surrogate.derivative s (x - h))) / (2.0 * h))
            allClose 1e-6 fd second "g''"
            Expect.isTrue (second |> Array.exists (fun v -> abs v > 1e-3)) "the second derivative is not identically zero"
        }
    ]

let tests =
    testList "Surrogate" [
        familyTests (ATan 2.0)
        familyTests (ATan 5.0)
        test "without a graph the spike is the plain Heaviside" {
            let x = torch.tensor [| -1.0; 0.0; 2.0 |]
            Expect.equal (values (Surrogate.spike (ATan 2.0) x)) [| 0.0; 1.0; 1.0 |] "H(x)"
        }
        test "invalid alpha is rejected with its name" {
            let e = Expect.throwsC (fun () -> Surrogate.validate (ATan 0.0) |> ignore) id
            Expect.stringContains e.Message "alpha" "names the parameter"
        }
    ]
