/// TorchSharp's native library loads (the GLIBCXX weak-need fix of Directory.Build.targets works) and computes.
module Snn.Tests.TorchSharpTests

open Expecto
open TorchSharp
open Snn.Tests.Assertions

let tests =
    testList "TorchSharp" [
        test "loads libtorch and multiplies matrices" {
            use a = shaped32 [| 2L; 2L |] [| 1.0f; 2.0f; 3.0f; 4.0f |]
            use b = shaped32 [| 2L; 2L |] [| 5.0f; 6.0f; 7.0f; 8.0f |]
            use c = a.matmul b
            allClose 0.0 [| 19.0; 22.0; 43.0; 50.0 |] (values c) "[[1,2],[3,4]] x [[5,6],[7,8]]"
        }
        test "glibc accepts the allocator policy that keeps freed memory in the process" {
            Expect.isTrue (Snn.Allocator.keepFreedMemory ()) "mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, max)"
        }
        test "autograd computes a gradient" {
            use x = torch.tensor([| 2.0f |]).requires_grad_ true
            use y = (x * x).sum ()
            y.backward ()
            allClose 0.0 [| 4.0 |] (values x.grad) "d(x^2)/dx at 2"
        }
    ]
