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
        test "a module's device is its parameters' device, and batches follow it (meta device, no CUDA needed)" {
            use layer = torch.nn.Linear (3L, 2L)
            Expect.equal (Snn.Tensors.deviceOf layer).``type`` DeviceType.CPU "a new module lives on the CPU"
            layer.``to`` (torch.device DeviceType.META) |> ignore
            let device = Snn.Tensors.deviceOf layer
            Expect.equal device.``type`` DeviceType.META "moved with its parameters"
            use batch = torch.ones ([| 4L; 3L |])
            let moved = Snn.Tensors.onDevice device batch
            Expect.equal moved.device_type DeviceType.META "the batch follows the module"
            Expect.equal moved.shape batch.shape "same shape"
            Expect.isTrue (obj.ReferenceEquals (Snn.Tensors.onDevice torch.CPU batch, batch)) "no copy when already there"
        }
        test "--device names: cpu, and a clear refusal of what is not available" {
            Expect.equal (Snn.Tensors.parseDevice "CPU") (Ok torch.CPU) "cpu"
            match Snn.Tensors.parseDevice "gpu" with
            | Error message -> Expect.stringContains message "neither cpu nor cuda" "names the choices"
            | Ok _ -> failtest "gpu is no device name"
            if not (torch.cuda.is_available ()) then
                match Snn.Tensors.parseDevice "cuda" with
                | Error message -> Expect.stringContains message "CUDA is not available" "says why"
                | Ok _ -> failtest "CUDA was refused by nothing"
        }
        test "autograd computes a gradient" {
            use x = torch.tensor([| 2.0f |]).requires_grad_ true
            use y = (x * x).sum ()
            y.backward ()
            allClose 0.0 [| 4.0 |] (values x.grad) "d(x^2)/dx at 2"
        }
    ]
