/// Pooled float32 work arrays for the fused kernels' per-neuron state (membrane potentials, currents, the
/// backward pass's carried gradients).
///
/// Why not a fresh array per call: an array of a few MB comes from memory the runtime has just committed, which it
/// knows to be zero and does not write. The kernel's first read of such a page maps the shared zero page, and its
/// first write then faults again, copies the page and interrupts the other core to flush its TLB. On W2 that was
/// about a tenth of a training step (`perf`: do_wp_page and TLB-flush IPIs under the LIF backward pass). Pooled
/// arrays stay mapped from step to step; measured in bench/RESULTS.md, "Pooled kernel state".
namespace Snn

#nowarn "9"

open System
open System.Buffers
open Microsoft.FSharp.NativeInterop

/// A pooled array that the kernel owns until it is disposed (it may be longer than asked for).
[<Struct>]
type internal ScratchLease =
    val Values: float32[]
    new (values) = { Values = values }
    interface IDisposable with
        member this.Dispose () = ArrayPool<float32>.Shared.Return this.Values

module internal Scratch =

    /// A pooled array of at least n values whose first n hold `value` (written, so the pages are real).
    let rent (n: int) (value: float32) : ScratchLease =
        let values = ArrayPool<float32>.Shared.Rent (max 1 n)
        Span<float32>(values, 0, n).Fill value
        new ScratchLease (values)

    /// The first value at or after p that starts a cache line (64 bytes): p plus 0-15 values. Pooled arrays are only
    /// 8- or 16-byte aligned, and a 512-bit load that spans two lines costs two; a buffer rented 16 values longer
    /// holds its n values from here.
    let alignedToCacheLine (p: nativeptr<float32>) : nativeptr<float32> =
        NativePtr.add p (int ((64L - int64 (NativePtr.toNativeInt p) % 64L) % 64L) / 4)
