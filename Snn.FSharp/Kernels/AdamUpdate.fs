/// Adam's update of one float32 parameter tensor in one pass over memory, with the same floating-point operations,
/// in the same order, as TorchSharp's `Adam.step` running on libtorch's CPU kernels, so the two give the same bits.
///
/// With g the gradient (negated when maximising, then g + λ·p under an L2 penalty λ), step t, lr η:
///
///     m ← fma(g, 1 − β₁, m·β₁)                       (libtorch's `mul_` then `add_(g, alpha)`, an FMA)
///     v ← fma((1 − β₂)·g, g, v·β₂)                   (`mul_` then `addcmul_(g, g, value)`)
///     d = √v / √(1 − β₂ᵗ) + ε                        (√ by MKL's vmsSqrt, as libtorch's `sqrt`)
///     p ← p·(1 − ηλ) + (−η / (1 − β₁ᵗ))·m / d        (AdamW's `mul_`, then `addcdiv_(m, d, value)`, no FMA)
///
/// with every constant rounded to float32 as libtorch rounds a double scalar (Adam has λ = 0 there, and p·1 is p
/// itself, bit for bit). libtorch's `sqrt` is MKL's vmsSqrt in its
/// high-accuracy mode, which is not always correctly rounded (about 0.7 % of values differ by one ulp from √ in
/// hardware), so the kernel calls the same MKL function on blocks of 2048 values that are still in L1.
/// TorchSharp's step runs eight tensor operations and two allocations per parameter; this reads p, g, m, v once
/// and writes p, m, v once. Measured in bench/RESULTS.md, "Fused Adam".
namespace Snn

#nowarn "9"

open System
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop

/// The raw loop of Adam's update over float32 memory.
module internal AdamUpdate =

    /// MKL's vector square root, exported by libtorch's CPU library (libtorch calls it for `torch.sqrt`).
    [<DllImport("libtorch_cpu", EntryPoint = "vmsSqrt", CallingConvention = CallingConvention.Cdecl)>]
    extern void private vmsSqrt (int n, nativeint a, nativeint r, int64 mode)

    /// The mode libtorch passes: VML_HA ||| VML_FTZDAZ_OFF ||| VML_ERRMODE_IGNORE.
    let private highAccuracy = 0x2L ||| 0x140000L ||| 0x100L

    /// Whether this libtorch exports vmsSqrt (builds without MKL do not); without it the optimizer takes TorchSharp's
    /// own step, since no other square root gives libtorch's bits.
    let available : Lazy<bool> =
        lazy
            try
                let x = [| 4.0f |]
                let r = [| 0.0f |]
                let hx = GCHandle.Alloc (x, GCHandleType.Pinned)
                let hr = GCHandle.Alloc (r, GCHandleType.Pinned)
                try vmsSqrt (1, hx.AddrOfPinnedObject (), hr.AddrOfPinnedObject (), highAccuracy)
                finally hx.Free (); hr.Free ()
                r.[0] = 2.0f
            with :? DllNotFoundException | :? EntryPointNotFoundException -> false

    /// The step's constants, rounded to float32 as libtorch rounds double scalars.
    [<Struct>]
    type Coefficients =
        { Beta1: float32; OneMinusBeta1: float32; Beta2: float32; OneMinusBeta2: float32
          /// √(1 − β₂ᵗ)
          Correction2: float32
          Epsilon: float32
          /// −η / (1 − β₁ᵗ)
          NegativeStepSize: float32
          /// λ of the L2 penalty added to the gradient (Adam)
          WeightDecay: float32
          /// 1 − ηλ of the decoupled decay (AdamW), 1 for Adam
          DecoupledScale: float32
          Maximize: bool }

    /// The constants of step t (counted from 1) in double precision first, as TorchSharp computes them.
    let coefficients (learningRate: float) (beta1: float) (beta2: float) (epsilon: float) (weightDecay: float)
                     (decoupledDecay: float) (maximize: bool) (t: int64) =
        let correction1 = 1.0 - Math.Pow (beta1, float t)
        let correction2 = 1.0 - Math.Pow (beta2, float t)
        { Beta1 = float32 beta1; OneMinusBeta1 = float32 (1.0 - beta1); Beta2 = float32 beta2; OneMinusBeta2 = float32 (1.0 - beta2)
          Correction2 = float32 (Math.Sqrt correction2); Epsilon = float32 epsilon
          NegativeStepSize = float32 (-(learningRate / correction1)); WeightDecay = float32 weightDecay
          DecoupledScale = float32 (1.0 - learningRate * decoupledDecay); Maximize = maximize }

    let private block = 2048

    /// The effective gradient of one element: negated when maximising, plus λ·p (libtorch's `add(p, alpha = λ)`).
    let inline private effective (c: Coefficients) (g: float32) (p: float32) =
        let g = if c.Maximize then -g else g
        if c.WeightDecay <> 0.0f then MathF.FusedMultiplyAdd (p, c.WeightDecay, g) else g

    /// Elements [start, stop) of one tensor; `root` holds `block` floats for the square roots.
    let private updateRange (c: Coefficients) (p: nativeptr<float32>) (g: nativeptr<float32>) (m: nativeptr<float32>)
                            (v: nativeptr<float32>) (root: nativeptr<float32>) (start: int) (stop: int) =
        let mutable b = start
        while b < stop do
            let n = min block (stop - b)
            let vectorised = if Vector512.IsHardwareAccelerated then n / 16 * 16 else 0
            let pb, gb, mb, vb = NativePtr.add p b, NativePtr.add g b, NativePtr.add m b, NativePtr.add v b
            // First moments, second moments.
            let beta1, oneMinusBeta1 = Vector512.Create c.Beta1, Vector512.Create c.OneMinusBeta1
            let beta2, oneMinusBeta2 = Vector512.Create c.Beta2, Vector512.Create c.OneMinusBeta2
            let mutable i = 0
            while i < vectorised do
                let mutable gi = Vector512.Load (NativePtr.add gb i)
                if c.Maximize then gi <- -gi
                if c.WeightDecay <> 0.0f then gi <- Vector512.FusedMultiplyAdd (Vector512.Load (NativePtr.add pb i), Vector512.Create c.WeightDecay, gi)
                let mi = Vector512.FusedMultiplyAdd (gi, oneMinusBeta1, Vector512.Load (NativePtr.add mb i) * beta1)
                let vi = Vector512.FusedMultiplyAdd (oneMinusBeta2 * gi, gi, Vector512.Load (NativePtr.add vb i) * beta2)
                mi.Store (NativePtr.add mb i)
                vi.Store (NativePtr.add vb i)
                i <- i + 16
            for i in vectorised .. n - 1 do
                let gi = effective c (NativePtr.get gb i) (NativePtr.get pb i)
                NativePtr.set mb i (MathF.FusedMultiplyAdd (gi, c.OneMinusBeta1, NativePtr.get mb i * c.Beta1))
                NativePtr.set vb i (MathF.FusedMultiplyAdd (c.OneMinusBeta2 * gi, gi, NativePtr.get vb i * c.Beta2))
            vmsSqrt (n, NativePtr.toNativeInt vb, NativePtr.toNativeInt root, highAccuracy)
            // The step.
            let correction2, epsilon, stepSize = Vector512.Create c.Correction2, Vector512.Create c.Epsilon, Vector512.Create c.NegativeStepSize
            let scale = Vector512.Create c.DecoupledScale
            let mutable i = 0
            while i < vectorised do
                let d = Vector512.Load (NativePtr.add root i) / correction2 + epsilon
                let pi = Vector512.Load (NativePtr.add pb i) * scale + stepSize * Vector512.Load (NativePtr.add mb i) / d
                pi.Store (NativePtr.add pb i)
                i <- i + 16
            for i in vectorised .. n - 1 do
                let d = NativePtr.get root i / c.Correction2 + c.Epsilon
                NativePtr.set pb i (NativePtr.get pb i * c.DecoupledScale + c.NegativeStepSize * NativePtr.get mb i / d)
            b <- b + n

    /// Updates p, m and v (each `count` contiguous float32) in place from g, over ranges of at least 32768 elements
    /// per core.
    let update (c: Coefficients) (p: nativeint) (g: nativeint) (m: nativeint) (v: nativeint) (count: int) =
        let range start stop =
            // Pooled, not stackalloc: localloc inside the work item's closure is an invalid program once the Release
            // build inlines `range` there.
            use roots = Scratch.rent block 0.0f
            use root = fixed roots.Values
            updateRange c (NativePtr.ofNativeInt p) (NativePtr.ofNativeInt g) (NativePtr.ofNativeInt m) (NativePtr.ofNativeInt v)
                        root start stop
        Workers.forRanges count (max 32768 ((count + Environment.ProcessorCount - 1) / Environment.ProcessorCount)) range
