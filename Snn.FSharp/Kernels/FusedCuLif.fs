/// Fused current-based LIF kernel (see `CuLif` and Kernels/FusedLif.fs for the shared maths): scalar and SIMD loops
/// over raw float32 memory and the autograd function. Tensors are time-first, [T; B; ...].
namespace Snn

#nowarn "9"

open System
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Neurons
open Snn.Tensors

/// The raw loops of the fused current-based LIF kernel (see `CuLif`): per neuron
///
///     i_t = α i_{t-1} + x_t;   h_t = ((v_{t-1} - v_rest)·β + i_t·(1 - β)) + v_rest;   z_t, v_t as for LIF
///
/// and backward, with δv and δi flowing from the future (both 0 after the last step):
///
///     ∂L/∂h_t as for LIF;   ∂L/∂i_t = (1 - β) ∂L/∂h_t + α δi_{t+1};   ∂L/∂x_t = ∂L/∂i_t;   δv_{t-1} = β ∂L/∂h_t
module internal CuLifKernel =

    open Raw

    /// Forward: writes h [T; N] and the spikes z [T; N]; `alpha` is the current decay (the current itself is not
    /// needed by the backward pass, so it stays in a per-chunk buffer). True when x holds a NaN.
    let forward (spec: FusedLifSpec) (alpha: float32) (steps: int) (neurons: int) (x: Tensor) (h: Tensor) (z: Tensor) : bool =
        let xp, hp, zp = address x, address h, address z
        let total = steps * neurons
        anyChunk neurons (fun j0 j1 ->
            let xs = view xp total
            let hs = view hp total
            let zs = view zp total
            use vLease = Scratch.rent (j1 - j0) spec.VRest
            let v = vLease.Values
            use currentLease = Scratch.rent (j1 - j0) 0.0f
            let current = currentLease.Values
            let mutable nan = false
            for t in 0 .. steps - 1 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let k = row + j
                    let xk = xs.[k]
                    nan <- nan || Single.IsNaN xk
                    let ik = current.[j - j0] * alpha + xk
                    let hk = ((v.[j - j0] - spec.VRest) * spec.Beta + ik * spec.Gain) + spec.VRest
                    let zk = spike spec hk
                    current.[j - j0] <- ik
                    hs.[k] <- hk
                    zs.[k] <- zk
                    v.[j - j0] <- reset spec hk zk
            nan)

    /// Backward: from ∂L/∂z and the saved h, writes ∂L/∂x.
    let backward (spec: FusedLifSpec) (alpha: float32) (derivative: float32 -> float32) (steps: int) (neurons: int)
                 (gradZ: Tensor) (h: Tensor) (gradX: Tensor) =
        let gp, hp, xp = address gradZ, address h, address gradX
        let total = steps * neurons
        forChunks neurons (fun j0 j1 ->
            let gs = view gp total
            let hs = view hp total
            let xs = view xp total
            use deltaVLease = Scratch.rent (j1 - j0) 0.0f
            let deltaV = deltaVLease.Values
            use deltaILease = Scratch.rent (j1 - j0) 0.0f
            let deltaI = deltaILease.Values
            for t in steps - 1 .. -1 .. 0 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let k = row + j
                    let hk = hs.[k]
                    let dh = chargeGradient spec derivative hk deltaV.[j - j0] gs.[k]
                    let di = spec.Gain * dh + alpha * deltaI.[j - j0]
                    xs.[k] <- di
                    deltaI.[j - j0] <- di
                    deltaV.[j - j0] <- spec.Beta * dh)

/// SIMD forms of the CuLIF loops: the per-neuron arithmetic of `CuLifKernel` in the same operation order on
/// `Vector<float32>.Count` neurons at a time; the elements past the last full vector run the scalar code.
module internal CuLifVectorKernel =

    open System.Numerics
    open Raw
    open LifVectorKernel

    type private V = Vector<float32>

    let inline private load (p: nativeptr<float32>) (i: int) : V = Vector.Load (NativePtr.add p i)
    let inline private store (v: V) (p: nativeptr<float32>) (i: int) = Vector.Store (v, NativePtr.add p i)

    /// Forward over neurons [j0, j1) with the reset v' = next h z inlined; true when x holds a NaN.
    let inline private forwardLoop ([<InlineIfLambda>] next: V -> V -> V) (spec: FusedLifSpec) (alpha: float32)
                                   (steps: int) (neurons: int) (xp: nativeptr<float32>) (hp: nativeptr<float32>)
                                   (zp: nativeptr<float32>) (j0: int) (j1: int) : bool =
        let width = V.Count
        let n = j1 - j0
        let full = n / width * width
        use voltageLease = Scratch.rent n spec.VRest
        let voltage = voltageLease.Values
        use currentLease = Scratch.rent n 0.0f
        let current = currentLease.Values
        use vp = fixed voltage
        use ip = fixed current
        let vRest, beta, gain, theta, a = V spec.VRest, V spec.Beta, V spec.Gain, V spec.Threshold, V alpha
        let mutable equal = Vector<int>.AllBitsSet
        let mutable nan = false
        for t in 0 .. steps - 1 do
            let row = t * neurons + j0
            let mutable j = 0
            while j < full do
                let x = load xp (row + j)
                equal <- Vector.BitwiseAnd (equal, Vector.Equals (x, x))
                let i = load ip j * a + x
                let h = ((load vp j - vRest) * beta + i * gain) + vRest
                let z = Vector.ConditionalSelect (Vector.GreaterThanOrEqual (h, theta), V.One, V.Zero)
                store i ip j
                store h hp (row + j)
                store z zp (row + j)
                store (next h z) vp j
                j <- j + width
            for j in full .. n - 1 do
                let xk = NativePtr.get xp (row + j)
                nan <- nan || Single.IsNaN xk
                let ik = NativePtr.get ip j * alpha + xk
                let hk = ((NativePtr.get vp j - spec.VRest) * spec.Beta + ik * spec.Gain) + spec.VRest
                let zk = spike spec hk
                NativePtr.set ip j ik
                NativePtr.set hp (row + j) hk
                NativePtr.set zp (row + j) zk
                NativePtr.set vp j (reset spec hk zk)
        nan || not (Vector.EqualsAll (equal, Vector<int>.AllBitsSet))

    /// Forward: writes h [T; N] and the spikes z [T; N]; true when x holds a NaN.
    let forward (spec: FusedLifSpec) (alpha: float32) (steps: int) (neurons: int) (x: Tensor) (h: Tensor) (z: Tensor) : bool =
        let xp, hp, zp = address x, address h, address z
        let vReset, theta = V spec.VReset, V spec.Threshold
        anyChunk neurons (fun j0 j1 ->
            let xs, hs, zs = NativePtr.ofNativeInt xp, NativePtr.ofNativeInt hp, NativePtr.ofNativeInt zp
            match spec.Reset with
            | Hard -> forwardLoop (fun h z -> h * (V.One - z) + vReset * z) spec alpha steps neurons xs hs zs j0 j1
            | Soft -> forwardLoop (fun h z -> h - theta * z) spec alpha steps neurons xs hs zs j0 j1
            | NoReset -> forwardLoop (fun h _ -> h) spec alpha steps neurons xs hs zs j0 j1)

    /// Backward over neurons [j0, j1), from the last step to the first: ∂L/∂h as for LIF, then
    /// ∂L/∂i_t = (1 - β) ∂L/∂h_t + α δi_{t+1} = ∂L/∂x_t and δv_{t-1} = β ∂L/∂h_t.
    let private backwardChunk (spec: FusedLifSpec) (alpha: float32) (scalarDerivative: float32 -> float32)
                              (steps: int) (neurons: int) (gp: nativeptr<float32>) (hp: nativeptr<float32>)
                              (op: nativeptr<float32>) (j0: int) (j1: int) =
        let width = V.Count
        let n = j1 - j0
        let full = n / width * width
        use deltaVLease = Scratch.rent n 0.0f
        let deltaV = deltaVLease.Values
        use deltaILease = Scratch.rent n 0.0f
        let deltaI = deltaILease.Values
        use dvp = fixed deltaV
        use dip = fixed deltaI
        let beta, gain, a = V spec.Beta, V spec.Gain, V alpha
        LifVectorKernel.withChargeGradient spec (fun chargeGradientOf ->
            for t in steps - 1 .. -1 .. 0 do
                let row = t * neurons + j0
                let mutable j = 0
                while j < full do
                    let dh = chargeGradientOf (load hp (row + j)) (load dvp j) (load gp (row + j))
                    let di = gain * dh + a * load dip j
                    store di op (row + j)
                    store di dip j
                    store (beta * dh) dvp j
                    j <- j + width
                for j in full .. n - 1 do
                    let dh = chargeGradient spec scalarDerivative (NativePtr.get hp (row + j)) (NativePtr.get dvp j) (NativePtr.get gp (row + j))
                    let di = spec.Gain * dh + alpha * NativePtr.get dip j
                    NativePtr.set op (row + j) di
                    NativePtr.set dip j di
                    NativePtr.set dvp j (spec.Beta * dh))

    /// Backward: from ∂L/∂z [T; N] and the saved h [T; N], writes ∂L/∂x [T; N].
    let backward (spec: FusedLifSpec) (alpha: float32) (scalarDerivative: float32 -> float32)
                 (steps: int) (neurons: int) (gradZ: Tensor) (h: Tensor) (gradX: Tensor) =
        let gp, hp, op = address gradZ, address h, address gradX
        forChunks neurons (fun j0 j1 ->
            backwardChunk spec alpha scalarDerivative steps neurons (NativePtr.ofNativeInt gp)
                (NativePtr.ofNativeInt hp) (NativePtr.ofNativeInt op) j0 j1)

/// The fused current-based LIF recurrence as a TorchSharp autograd function: apply (x [T; ...] float32, spec, α).
type FusedCuLifFunction() =
    inherit torch.autograd.SingleTensorFunction<FusedCuLifFunction>()

    /// The autograd node's name.
    override _.Name = "SnnFusedCuLif"

    /// Runs the recurrence; keeps h for the backward pass (`KeptForBackward`: freed by a graph-freeing backward pass).
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = vars.[0] :?> Tensor
        let spec = vars.[1] :?> FusedLifSpec
        let alpha = vars.[2] :?> float32
        let steps, neurons = Raw.layout x
        use detached = x.detach ()
        use xc = detached.contiguous ()
        let h, z = torch.empty_like xc, torch.empty_like xc
        // TorchSharp reads z when apply returns; libtorch keeps it as the output.
        FunctionHandles.releaseLater [ z ]
        let nan =
            if FusedKernelSettings.Vectorised then CuLifVectorKernel.forward spec alpha steps neurons xc h z
            else CuLifKernel.forward spec alpha steps neurons xc h z
        // The kernels read raw addresses, which do not keep a tensor alive: the contiguous input must outlive them.
        GC.KeepAlive xc
        if nan then Raw.nanInput ()
        ctx.save_data ("h", KeptForBackward h)
        FunctionHandles.shrinkOutputCache ctx
        ctx.save_data ("spec", box spec)
        ctx.save_data ("alpha", box alpha)
        z

    /// Back-propagates through time from ∂L/∂z to ∂L/∂x.
    override _.backward (ctx: torch.autograd.AutogradContext, gradZ: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnFusedCuLif" 3 (fun () ->
            FunctionHandles.release ()
            use gradZ = gradZ
            let kept = ctx.get_data "h" :?> KeptForBackward
            let h = kept.Tensor
            let spec = ctx.get_data "spec" :?> FusedLifSpec
            let alpha = ctx.get_data "alpha" :?> float32
            let derivative = (SurrogateDerivatives.scalar spec.Surrogate).Value
            let steps, neurons = Raw.layout h
            let gradX = torch.empty_like h
            FunctionHandles.releaseLater [ gradX ]
            use g = gradZ.contiguous ()
            if FusedKernelSettings.Vectorised then CuLifVectorKernel.backward spec alpha derivative steps neurons g h gradX
            else CuLifKernel.backward spec alpha derivative steps neurons g h gradX
            // The kernels read raw addresses, which do not keep a tensor alive: g and h must outlive them.
            GC.KeepAlive g
            GC.KeepAlive h
            kept.Release ()
            // One gradient per argument of apply: the spec and α get none.
            Collections.Generic.List [ gradX; null; null ])
