/// Fused IF / LIF kernel: the whole IF or LIF recurrence over T steps as one autograd node whose forward and
/// backward loop over time on raw float32 memory (parallel over neurons), instead of ~6 small tensor operations per
/// step. The pure `Lif.step` stays the reference; tests check that spikes and gradients agree.
///
/// Forward, per neuron (β the decay, c the input gain: LIF exact c = 1 - β, Euler β = 1 - dt/τ, c = dt/τ; IF β = c = 1;
/// each charge is evaluated in the reference's operation order, see `Charge`):
///
///     h_t = v_rest + β (v_{t-1} - v_rest) + c x_t;   z_t = H(h_t - θ);   v_t = R(h_t, z_t)
///
/// Backward through time, with δ_t = ∂L/∂v_t flowing from the future (δ_T = 0) and s'(·) the surrogate derivative:
///
///     ∂L/∂h_t = δ_t ∂R/∂h + (∂L/∂z_t + δ_t ∂R/∂z) s'(h_t - θ)
///     ∂L/∂x_t = c ∂L/∂h_t,   δ_{t-1} = β ∂L/∂h_t
///     hard reset: ∂R/∂h = 1 - z, ∂R/∂z = v_reset - h;  soft: ∂R/∂h = 1, ∂R/∂z = -θ;  none: 1, 0
///     (∂R/∂z = 0 when the reset is detached).
///
/// Only h is saved for the backward pass (z is recomputed from it). The backward pass is not itself differentiable:
/// double backward (Hessian-vector products, implicit hypergradients) must use the reference `Lif.unroll`.
/// Tensors are time-first, [T; B; ...].
///
/// The spec and settings types shared by every fused kernel (CuLIF, PLIF) are defined here, first in compile order.
namespace Snn

#nowarn "9"

open System
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Neurons
open Snn.Tensors

/// How a fused recurrence charges the membrane, written in the same operation order as the reference step so
/// that both round identically in float32.
type Charge =
    /// Exact leak: h = ((v - v_rest)·β + x·c) + v_rest.
    | ExactLeak
    /// Forward Euler with k = dt/τ: h = v + ((v - v_rest)·(-1) + x)·k.
    | EulerLeak of k: float32
    /// Perfect integration (IF): h = v + x.
    | Integrate

/// The constants of one fused IF/LIF recurrence.
type FusedLifSpec =
    { /// How the membrane is charged.
      Charge: Charge
      /// Decay β of one step (∂h/∂v).
      Beta: float32
      /// Input gain c (∂h/∂x).
      Gain: float32
      /// Resting potential (and initial potential).
      VRest: float32
      /// Threshold θ.
      Threshold: float32
      /// Potential after a hard reset.
      VReset: float32
      /// Reset rule.
      Reset: ResetMode
      /// Whether the reset is detached from the gradient.
      DetachReset: bool
      /// Surrogate of the spike function.
      Surrogate: Surrogate }

/// Raw-memory helpers and the reset rule shared by the fused kernels (float32, per neuron).
module internal Raw =

    /// Fewest neurons per parallel work item: below this, scheduling costs more than the loop itself.
    let minimumChunk = 2048

    /// Neurons per work item: one share per core (a multiple of the SIMD width, at least `minimumChunk`), or all
    /// neurons in one item when the kernels run single-threaded.
    let chunkSize (neurons: int) =
        if not FusedKernelSettings.Parallel then max 1 neurons
        else
            let width = Numerics.Vector<float32>.Count
            let share = (neurons + Environment.ProcessorCount - 1) / Environment.ProcessorCount
            max minimumChunk ((share + width - 1) / width * width)

    /// Runs `body j0 j1` over the neuron ranges of `chunkSize`, in parallel when there is more than one.
    let forChunks (neurons: int) (body: int -> int -> unit) =
        Workers.forRanges neurons (chunkSize neurons) body

    /// Runs `body j0 j1` like `forChunks` and tells whether any work item returned true.
    let anyChunk (neurons: int) (body: int -> int -> bool) : bool =
        let chunk = chunkSize neurons
        let chunks = (neurons + chunk - 1) / chunk
        let found = Array.zeroCreate<bool> chunks
        forChunks neurons (fun j0 j1 -> found.[j0 / chunk] <- body j0 j1)
        Array.contains true found

    /// The error of a NaN input, raised after a forward kernel found one (the kernels check the input as they read
    /// it, instead of a separate pass over the whole tensor).
    let nanInput () : 'a = invalidArg "inputs" "contains NaN"

    /// The address of a contiguous CPU tensor's storage (native memory, which the GC never moves).
    let address (t: Tensor) : nativeint =
        use p = fixed t.bytes
        NativePtr.toNativeInt p

    /// A span over `length` float32 values at `p`.
    let view (p: nativeint) (length: int) =
        Span<float32> (NativePtr.toVoidPtr (NativePtr.ofNativeInt<float32> p), length)

    /// Steps T and neurons per step of a time-first tensor [T; ...].
    let layout (t: Tensor) : int * int =
        let steps = int t.shape.[0]
        steps, int (t.numel () / int64 steps)

    /// The spike of a charged potential: 1 if h ≥ θ else 0.
    let inline spike (spec: FusedLifSpec) (h: float32) = if h >= spec.Threshold then 1.0f else 0.0f

    /// The potential after the reset rule, v = R(h, z).
    let inline reset (spec: FusedLifSpec) (h: float32) (z: float32) =
        match spec.Reset with
        | Hard -> h * (1.0f - z) + spec.VReset * z
        | Soft -> h - spec.Threshold * z
        | NoReset -> h

    /// ∂L/∂h from the gradient δ of the potential after the step, ∂L/∂z and the surrogate derivative:
    /// δ ∂R/∂h + (∂L/∂z + δ ∂R/∂z) s'(h - θ), with ∂R/∂z = 0 for a detached reset.
    let inline chargeGradient (spec: FusedLifSpec) (derivative: float32 -> float32) (h: float32) (delta: float32) (gradZ: float32) =
        let z = spike spec h
        let dvdh, dvdz =
            match spec.Reset with
            | Hard -> 1.0f - z, (if spec.DetachReset then 0.0f else spec.VReset - h)
            | Soft -> 1.0f, (if spec.DetachReset then 0.0f else -spec.Threshold)
            | NoReset -> 1.0f, 0.0f
        delta * dvdh + (gradZ + delta * dvdz) * derivative (h - spec.Threshold)

/// The raw loops of the fused IF/LIF kernel over [T; N] float32 buffers.
module internal LifKernel =

    open Raw

    /// Forward: writes the charged potentials h [T; N] (unless h is null: no backward pass will read them) and the
    /// spikes z [T; N]; true when x holds a NaN.
    let forward (spec: FusedLifSpec) (steps: int) (neurons: int) (x: Tensor) (h: Tensor) (z: Tensor) : bool =
        let keep = not (isNull (box h))
        let xp, hp, zp = address x, (if keep then address h else 0n), address z
        let total = steps * neurons
        anyChunk neurons (fun j0 j1 ->
            let xs = view xp total
            let hs = view hp (if keep then total else 0)
            let zs = view zp total
            use vLease = Scratch.rent (j1 - j0) spec.VRest
            let v = vLease.Values
            let mutable nan = false
            for t in 0 .. steps - 1 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let k = row + j
                    let vk = v.[j - j0]
                    let xk = xs.[k]
                    nan <- nan || Single.IsNaN xk
                    let hk =
                        match spec.Charge with
                        | ExactLeak -> ((vk - spec.VRest) * spec.Beta + xk * spec.Gain) + spec.VRest
                        | EulerLeak step -> vk + ((vk - spec.VRest) * -1.0f + xk) * step
                        | Integrate -> vk + xk
                    let zk = spike spec hk
                    if keep then hs.[k] <- hk
                    zs.[k] <- zk
                    v.[j - j0] <- reset spec hk zk
            nan)

    /// Backward: from ∂L/∂z [T; N] and the saved h [T; N], writes ∂L/∂x [T; N].
    let backward (spec: FusedLifSpec) (derivative: float32 -> float32) (steps: int) (neurons: int)
                 (gradZ: Tensor) (h: Tensor) (gradX: Tensor) =
        let gp, hp, xp = address gradZ, address h, address gradX
        let total = steps * neurons
        forChunks neurons (fun j0 j1 ->
            let gs = view gp total
            let hs = view hp total
            let xs = view xp total
            use deltaLease = Scratch.rent (j1 - j0) 0.0f
            let delta = deltaLease.Values
            for t in steps - 1 .. -1 .. 0 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let k = row + j
                    let hk = hs.[k]
                    let dh = chargeGradient spec derivative hk delta.[j - j0] gs.[k]
                    xs.[k] <- spec.Gain * dh
                    delta.[j - j0] <- spec.Beta * dh)

/// SIMD forms of the IF/LIF loops: the same per-neuron arithmetic as `LifKernel`, in the same operation order,
/// on `Vector<float32>.Count` neurons at a time; the elements past the last full vector run the scalar code.
module internal LifVectorKernel =

    open System.Numerics
    open Raw

    type private V = Vector<float32>

    /// `Raw.chargeGradient` on a vector of neurons, δ ∂R/∂h + (∂L/∂z + δ ∂R/∂z) s'(h - θ), given to `body` as
    /// `gradient h δ ∂L/∂z` with the spec's surrogate derivative and reset rule chosen here, once, so that the
    /// caller's loop runs them inline: a call per vector cost about a tenth of the fused block's backward pass
    /// (bench/RESULTS.md round 11), a jump table per vector for the reset rule came on top (round 12). Each rule keeps
    /// `Raw.chargeGradient`'s operations (a detached reset multiplies δ by 0 as it does), so the SIMD lanes and the
    /// scalar tails round alike. One specialisation of `body` per surrogate family and reset rule.
    let inline withChargeGradient (spec: FusedLifSpec)
                                  ([<InlineIfLambda>] body: (Vector<float32> -> Vector<float32> -> Vector<float32> -> Vector<float32>) -> 'r) : 'r =
        SurrogateDerivatives.formulaThen Unchecked.defaultof<Lanes> spec.Surrogate
            (fun derivative ->
                let one, zero = Vector<float32>.One, Vector<float32>.Zero
                let theta, vReset, minusTheta = Vector<float32> spec.Threshold, Vector<float32> spec.VReset, Vector<float32> -spec.Threshold
                let inline spikeOf (h: Vector<float32>) = Vector.ConditionalSelect (Vector.GreaterThanOrEqual (h, theta), one, zero)
                match spec.Reset, spec.DetachReset with
                | Hard, false -> body (fun h delta gradZ -> delta * (one - spikeOf h) + (gradZ + delta * (vReset - h)) * derivative (h - theta))
                | Hard, true -> body (fun h delta gradZ -> delta * (one - spikeOf h) + (gradZ + delta * zero) * derivative (h - theta))
                | Soft, false -> body (fun h delta gradZ -> delta * one + (gradZ + delta * minusTheta) * derivative (h - theta))
                | Soft, true -> body (fun h delta gradZ -> delta * one + (gradZ + delta * zero) * derivative (h - theta))
                | NoReset, _ -> body (fun h delta gradZ -> delta * one + (gradZ + delta * zero) * derivative (h - theta)))
            (fun () -> invalidOp "the fused kernels run no ASGL surrogate")

    let inline private load (p: nativeptr<float32>) (i: int) : V = Vector.Load (NativePtr.add p i)
    let inline private store (v: V) (p: nativeptr<float32>) (i: int) = Vector.Store (v, NativePtr.add p i)

    /// The scalar step of one neuron (the tail), identical to `LifKernel.forward`.
    let inline scalarCharge (spec: FusedLifSpec) (vk: float32) (xk: float32) =
        match spec.Charge with
        | ExactLeak -> ((vk - spec.VRest) * spec.Beta + xk * spec.Gain) + spec.VRest
        | EulerLeak step -> vk + ((vk - spec.VRest) * -1.0f + xk) * step
        | Integrate -> vk + xk

    /// Forward over neurons [j0, j1) of every step with the charge h = charge v x and the reset v' = next h z given
    /// as inlined functions, so the loop body carries no branch on the spec; true when x holds a NaN (checked as x is
    /// read: x ≠ x only for NaN). The charges h are stored only when `keep` (a branch that always goes the same way).
    let inline private forwardLoop ([<InlineIfLambda>] charge: V -> V -> V) ([<InlineIfLambda>] next: V -> V -> V)
                                   (spec: FusedLifSpec) (steps: int) (neurons: int) (xp: nativeptr<float32>) (keep: bool)
                                   (hp: nativeptr<float32>) (zp: nativeptr<float32>) (j0: int) (j1: int) : bool =
        let width = V.Count
        let n = j1 - j0
        let full = n / width * width
        use stateLease = Scratch.rent n spec.VRest
        let state = stateLease.Values
        use sp = fixed state
        let theta = V spec.Threshold
        let mutable equal = Vector<int>.AllBitsSet
        let mutable nan = false
        for t in 0 .. steps - 1 do
            let row = t * neurons + j0
            let mutable j = 0
            while j < full do
                let x = load xp (row + j)
                equal <- Vector.BitwiseAnd (equal, Vector.Equals (x, x))
                let h = charge (load sp j) x
                let z = Vector.ConditionalSelect (Vector.GreaterThanOrEqual (h, theta), V.One, V.Zero)
                if keep then store h hp (row + j)
                store z zp (row + j)
                store (next h z) sp j
                j <- j + width
            for j in full .. n - 1 do
                let xk = NativePtr.get xp (row + j)
                nan <- nan || Single.IsNaN xk
                let hk = scalarCharge spec (NativePtr.get sp j) xk
                let zk = spike spec hk
                if keep then NativePtr.set hp (row + j) hk
                NativePtr.set zp (row + j) zk
                NativePtr.set sp j (reset spec hk zk)
        nan || not (Vector.EqualsAll (equal, Vector<int>.AllBitsSet))

    /// `body charge next` with the spec's charge h = charge v x and reset v' = next h z as inlined functions (one
    /// specialisation of the loop per charge and reset rule, so the loop body carries no branch on the spec).
    let inline specialise (spec: FusedLifSpec) ([<InlineIfLambda>] body: (V -> V -> V) -> (V -> V -> V) -> 'r) : 'r =
        let vRest, beta, gain, theta, vReset = V spec.VRest, V spec.Beta, V spec.Gain, V spec.Threshold, V spec.VReset
        let minusOne = V -1.0f
        let inline hard (h: V) (z: V) = h * (V.One - z) + vReset * z
        let inline soft (h: V) (z: V) = h - theta * z
        let inline keep (h: V) (_: V) = h
        let inline exact (v: V) (x: V) = ((v - vRest) * beta + x * gain) + vRest
        let inline integrate (v: V) (x: V) = v + x
        match spec.Charge, spec.Reset with
        | ExactLeak, Hard -> body exact hard
        | ExactLeak, Soft -> body exact soft
        | ExactLeak, NoReset -> body exact keep
        | EulerLeak k, reset ->
            let euler = V k
            let inline leak (v: V) (x: V) = v + ((v - vRest) * minusOne + x) * euler
            match reset with
            | Hard -> body leak hard
            | Soft -> body leak soft
            | NoReset -> body leak keep
        | Integrate, Hard -> body integrate hard
        | Integrate, Soft -> body integrate soft
        | Integrate, NoReset -> body integrate keep

    /// Forward over neurons [j0, j1) of every step: `forwardLoop` specialised to the spec's charge and reset.
    let private forwardChunk (spec: FusedLifSpec) (steps: int) (neurons: int) (xp: nativeptr<float32>) (keep: bool)
                             (hp: nativeptr<float32>) (zp: nativeptr<float32>) (j0: int) (j1: int) : bool =
        specialise spec (fun charge next -> forwardLoop charge next spec steps neurons xp keep hp zp j0 j1)

    /// Backward over neurons [j0, j1), from the last step to the first.
    let private backwardChunk (spec: FusedLifSpec) (scalarDerivative: float32 -> float32) (steps: int) (neurons: int)
                              (gp: nativeptr<float32>) (hp: nativeptr<float32>) (op: nativeptr<float32>) (j0: int) (j1: int) =
        let width = V.Count
        let n = j1 - j0
        let full = n / width * width
        use deltasLease = Scratch.rent n 0.0f
        let deltas = deltasLease.Values
        use dp = fixed deltas
        let beta, gain = V spec.Beta, V spec.Gain
        withChargeGradient spec (fun chargeGradientOf ->
            for t in steps - 1 .. -1 .. 0 do
                let row = t * neurons + j0
                let mutable j = 0
                while j < full do
                    let dh = chargeGradientOf (load hp (row + j)) (load dp j) (load gp (row + j))
                    store (gain * dh) op (row + j)
                    store (beta * dh) dp j
                    j <- j + width
                for j in full .. n - 1 do
                    let dh = chargeGradient spec scalarDerivative (NativePtr.get hp (row + j)) (NativePtr.get dp j) (NativePtr.get gp (row + j))
                    NativePtr.set op (row + j) (spec.Gain * dh)
                    NativePtr.set dp j (spec.Beta * dh))

    /// Forward: writes the charged potentials h [T; N] (unless h is null) and the spikes z [T; N]; true when x
    /// holds a NaN.
    let forward (spec: FusedLifSpec) (steps: int) (neurons: int) (x: Tensor) (h: Tensor) (z: Tensor) : bool =
        let keep = not (isNull (box h))
        let xp, hp, zp = address x, (if keep then address h else 0n), address z
        anyChunk neurons (fun j0 j1 ->
            forwardChunk spec steps neurons (NativePtr.ofNativeInt xp) keep (NativePtr.ofNativeInt hp) (NativePtr.ofNativeInt zp) j0 j1)

    /// Backward: from ∂L/∂z [T; N] and the saved h [T; N], writes ∂L/∂x [T; N].
    let backward (spec: FusedLifSpec) (scalarDerivative: float32 -> float32) (steps: int)
                 (neurons: int) (gradZ: Tensor) (h: Tensor) (gradX: Tensor) =
        let gp, hp, op = address gradZ, address h, address gradX
        forChunks neurons (fun j0 j1 ->
            backwardChunk spec scalarDerivative steps neurons (NativePtr.ofNativeInt gp) (NativePtr.ofNativeInt hp)
                (NativePtr.ofNativeInt op) j0 j1)

/// The fused IF/LIF forward pass over a contiguous float32 input, through the loops `FusedKernelSettings` selects.
module internal FusedLifForward =

    /// Spikes z [T; ...] of xc [T; ...] in a fresh tensor, and the charged potentials into h [T; ...] unless h is null
    /// (only a backward pass reads them: without one, their stores were a third of the kernel's memory traffic in W1's
    /// inference). Raises the NaN error when xc holds a NaN.
    let spikes (spec: FusedLifSpec) (xc: Tensor) (h: Tensor) : Tensor =
        let steps, neurons = Raw.layout xc
        let z = torch.empty_like xc
        let nan =
            if FusedKernelSettings.Vectorised then LifVectorKernel.forward spec steps neurons xc h z
            else LifKernel.forward spec steps neurons xc h z
        // The kernels read raw addresses, which do not keep a tensor alive: the input must outlive them.
        GC.KeepAlive xc
        if nan then
            z.Dispose ()
            Raw.nanInput ()
        z

/// The fused IF/LIF recurrence as a TorchSharp autograd function: apply (x [T; ...] float32 contiguous, spec).
type FusedLifFunction() =
    inherit torch.autograd.SingleTensorFunction<FusedLifFunction>()

    /// The autograd node's name.
    override _.Name = "SnnFusedLif"

    /// Runs the recurrence; keeps h for the backward pass (`KeptForBackward`: freed by a graph-freeing backward pass).
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = vars.[0] :?> Tensor
        let spec = vars.[1] :?> FusedLifSpec
        use detached = x.detach ()
        use xc = detached.contiguous ()
        let h = torch.empty_like xc
        let z = FusedLifForward.spikes spec xc h
        // TorchSharp reads z when apply returns; libtorch keeps it as the output.
        FunctionHandles.releaseLater [ z ]
        ctx.save_data ("h", KeptForBackward h)
        FunctionHandles.shrinkOutputCache ctx
        ctx.save_data ("spec", box spec)
        z

    /// Back-propagates through time from ∂L/∂z to ∂L/∂x.
    override _.backward (ctx: torch.autograd.AutogradContext, gradZ: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnFusedLif" 2 (fun () ->
            FunctionHandles.release ()
            use gradZ = gradZ
            let kept = ctx.get_data "h" :?> KeptForBackward
            let h = kept.Tensor
            let spec = ctx.get_data "spec" :?> FusedLifSpec
            let derivative = (SurrogateDerivatives.scalar spec.Surrogate).Value
            let steps, neurons = Raw.layout h
            use g = gradZ.contiguous ()
            let gradX = torch.empty_like h
            FunctionHandles.releaseLater [ gradX ]
            if FusedKernelSettings.Vectorised then
                LifVectorKernel.backward spec derivative steps neurons g h gradX
            else LifKernel.backward spec derivative steps neurons g h gradX
            // The kernels read raw addresses, which do not keep a tensor alive: g and h must outlive them.
            GC.KeepAlive g
            GC.KeepAlive h
            kept.Release ()
            // One gradient per argument of apply: the spec gets none.
            Collections.Generic.List [ gradX; null ])
