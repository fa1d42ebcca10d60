/// Fused multi-step kernels: the whole IF / LIF / CuLIF / PLIF recurrence over T steps as one autograd node whose forward and
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
namespace Snn

#nowarn "9"

open System
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Neurons
open Snn.Tensors

/// Which implementation runs a neuron recurrence over time.
type Kernel =
    /// The pure per-step functions of `Snn.Neurons` (supports every option and double backward).
    | Reference
    /// The fused multi-step kernel (float32, IF/LIF without refractory period or conductance input).
    | Fused

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

/// How the fused kernels use the CPU (process-wide switches, so benchmarks and users can compare; both on by
/// default). The vectorised loops give bit-identical spikes and, except for surrogates that need exp (sigmoid,
/// Gaussian, piecewise-exponential, SLAYER), bit-identical gradients; with exp the vectorised exponential may
/// differ from the scalar one by a few units in the last place (relative error below 1e-6).
type FusedKernelSettings private () =
    /// Run the IF/LIF loops with SIMD vectors over neurons (System.Numerics.Vector); the scalar loop otherwise.
    static member val Vectorised = true with get, set
    /// Split the neurons across the cores (time stays sequential within each neuron); one thread otherwise.
    static member val Parallel = true with get, set

/// Scalar forms of the surrogate derivatives for the fused kernels.
module internal ScalarSurrogate =

    /// s'(x) in float32 for families with scalar parameters; None for ASGL (tensor width).
    let derivative (s: Surrogate) : (float32 -> float32) option =
        match s with
        | Sigmoid alpha ->
            let a = float32 alpha
            Some (fun x -> let e = 1.0f / (1.0f + MathF.Exp (-a * x)) in a * e * (1.0f - e))
        | ATan alpha ->
            let k = float32 (Math.PI / 2.0 * alpha)
            let half = float32 (alpha / 2.0)
            Some (fun x -> let z = k * x in half / (1.0f + z * z))
        | FastSigmoid alpha ->
            let a = float32 alpha
            Some (fun x -> let d = 1.0f + a * abs x in a / (2.0f * d * d))
        | SuperSpike beta ->
            let b = float32 beta
            Some (fun x -> let d = 1.0f + b * abs x in 1.0f / (d * d))
        | Triangle w ->
            let w = float32 w
            Some (fun x -> max 0.0f (1.0f - abs x / w) / w)
        | Rectangle w ->
            let w = float32 w
            Some (fun x -> if abs x < w / 2.0f then 1.0f / w else 0.0f)
        | Gaussian sigma ->
            let s = float32 sigma
            let norm = float32 (1.0 / (sigma * Math.Sqrt (2.0 * Math.PI)))
            Some (fun x -> norm * MathF.Exp (-x * x / (2.0f * s * s)))
        | PiecewiseExp alpha ->
            let a = float32 alpha
            Some (fun x -> a / 2.0f * MathF.Exp (-a * abs x))
        | SlayerExp (tau, scale) ->
            let t = float32 tau
            let k = float32 (scale / (2.0 * tau))
            Some (fun x -> k * MathF.Exp (-abs x / t))
        | Asgl _ -> None

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
        let chunk = chunkSize neurons
        let chunks = (neurons + chunk - 1) / chunk
        if chunks <= 1 then body 0 neurons
        else Parallel.For (0, chunks, fun c -> body (c * chunk) (min neurons (c * chunk + chunk))) |> ignore

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

    /// Forward: writes the charged potentials h [T; N] and the spikes z [T; N]; true when x holds a NaN.
    let forward (spec: FusedLifSpec) (steps: int) (neurons: int) (x: Tensor) (h: Tensor) (z: Tensor) : bool =
        let xp, hp, zp = address x, address h, address z
        let total = steps * neurons
        anyChunk neurons (fun j0 j1 ->
            let xs = view xp total
            let hs = view hp total
            let zs = view zp total
            let v = Array.create (j1 - j0) spec.VRest
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
                    hs.[k] <- hk
                    zs.[k] <- zk
                    v.[j - j0] <- reset spec hk zk
            nan)

    /// Backward: from ∂L/∂z [T; N] and the saved h [T; N], writes ∂L/∂x [T; N].
    let backward (spec: FusedLifSpec) (derivative: float32 -> float32) (steps: int) (neurons: int)
                 (gradZ: Tensor) (h: Tensor) (gradX: Tensor) =
        let gp, hp, xp = address gradZ, address h, address gradX
        let total = steps * neurons
        let chunk = chunkSize neurons
        let chunks = (neurons + chunk - 1) / chunk
        Parallel.For (0, chunks, fun c ->
            let gs = view gp total
            let hs = view hp total
            let xs = view xp total
            let j0 = c * chunk
            let j1 = min neurons (j0 + chunk)
            let delta = Array.zeroCreate<float32> (j1 - j0)
            for t in steps - 1 .. -1 .. 0 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let k = row + j
                    let hk = hs.[k]
                    let dh = chargeGradient spec derivative hk delta.[j - j0] gs.[k]
                    xs.[k] <- spec.Gain * dh
                    delta.[j - j0] <- spec.Beta * dh) |> ignore

/// SIMD forms of the IF/LIF loops: the same per-neuron arithmetic as `LifKernel`, in the same operation order,
/// on `Vector<float32>.Count` neurons at a time; the elements past the last full vector run the scalar code.
module internal LifVectorKernel =

    open System.Numerics
    open Raw

    type private V = Vector<float32>

    /// `Raw.chargeGradient` on a vector of neurons: δ ∂R/∂h + (∂L/∂z + δ ∂R/∂z) s'(h - θ), with θ, v_reset and -θ
    /// broadcast once by the caller.
    let inline chargeGradientVector (spec: FusedLifSpec) (derivative: Vector<float32> -> Vector<float32>) (theta: Vector<float32>)
                                    (vReset: Vector<float32>) (minusTheta: Vector<float32>) (h: Vector<float32>)
                                    (delta: Vector<float32>) (gradZ: Vector<float32>) : Vector<float32> =
        let one, zero = Vector<float32>.One, Vector<float32>.Zero
        let z = Vector.ConditionalSelect (Vector.GreaterThanOrEqual (h, theta), one, zero)
        let dvdh, dvdz =
            match spec.Reset with
            | Hard -> one - z, (if spec.DetachReset then zero else vReset - h)
            | Soft -> one, (if spec.DetachReset then zero else minusTheta)
            | NoReset -> one, zero
        delta * dvdh + (gradZ + delta * dvdz) * derivative (h - theta)

    /// s'(x) on a vector, in the operation order of `ScalarSurrogate.derivative` (None for ASGL).
    let derivative (s: Surrogate) : (V -> V) option =
        let one = V.One
        match s with
        | Sigmoid alpha ->
            let a = V (float32 alpha)
            let minusA = V (-(float32 alpha))
            Some (fun x -> let e = one / (one + Vector.Exp (minusA * x)) in a * e * (one - e))
        | ATan alpha ->
            let k = V (float32 (Math.PI / 2.0 * alpha))
            let half = V (float32 (alpha / 2.0))
            Some (fun x -> let z = k * x in half / (one + z * z))
        | FastSigmoid alpha ->
            let a = V (float32 alpha)
            let two = V 2.0f
            Some (fun x -> let d = one + a * Vector.Abs x in a / (two * d * d))
        | SuperSpike beta ->
            let b = V (float32 beta)
            Some (fun x -> let d = one + b * Vector.Abs x in one / (d * d))
        | Triangle w ->
            let wv = V (float32 w)
            Some (fun x -> Vector.Max (V.Zero, one - Vector.Abs x / wv) / wv)
        | Rectangle w ->
            let w32 = float32 w
            let half = V (w32 / 2.0f)
            let height = V (1.0f / w32)
            Some (fun x -> Vector.ConditionalSelect (Vector.LessThan (Vector.Abs x, half), height, V.Zero))
        | Gaussian sigma ->
            let s32 = float32 sigma
            let denominator = V (2.0f * s32 * s32)
            let norm = V (float32 (1.0 / (sigma * Math.Sqrt (2.0 * Math.PI))))
            Some (fun x -> norm * Vector.Exp (-x * x / denominator))
        | PiecewiseExp alpha ->
            let a = float32 alpha
            let scale = V (a / 2.0f)
            let minusA = V (-a)
            Some (fun x -> scale * Vector.Exp (minusA * Vector.Abs x))
        | SlayerExp (tau, scale) ->
            let t = V (float32 tau)
            let k = V (float32 (scale / (2.0 * tau)))
            Some (fun x -> k * Vector.Exp (-(Vector.Abs x) / t))
        | Asgl _ -> None

    let inline private load (p: nativeptr<float32>) (i: int) : V = Vector.Load (NativePtr.add p i)
    let inline private store (v: V) (p: nativeptr<float32>) (i: int) = Vector.Store (v, NativePtr.add p i)

    /// The scalar step of one neuron (the tail), identical to `LifKernel.forward`.
    let inline private scalarCharge (spec: FusedLifSpec) (vk: float32) (xk: float32) =
        match spec.Charge with
        | ExactLeak -> ((vk - spec.VRest) * spec.Beta + xk * spec.Gain) + spec.VRest
        | EulerLeak step -> vk + ((vk - spec.VRest) * -1.0f + xk) * step
        | Integrate -> vk + xk

    /// Forward over neurons [j0, j1) of every step with the charge h = charge v x and the reset v' = next h z given
    /// as inlined functions, so the loop body carries no branch on the spec; true when x holds a NaN (checked as x is
    /// read: x ≠ x only for NaN).
    let inline private forwardLoop ([<InlineIfLambda>] charge: V -> V -> V) ([<InlineIfLambda>] next: V -> V -> V)
                                   (spec: FusedLifSpec) (steps: int) (neurons: int) (xp: nativeptr<float32>)
                                   (hp: nativeptr<float32>) (zp: nativeptr<float32>) (j0: int) (j1: int) : bool =
        let width = V.Count
        let n = j1 - j0
        let full = n / width * width
        let state = Array.create n spec.VRest
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
                store h hp (row + j)
                store z zp (row + j)
                store (next h z) sp j
                j <- j + width
            for j in full .. n - 1 do
                let xk = NativePtr.get xp (row + j)
                nan <- nan || Single.IsNaN xk
                let hk = scalarCharge spec (NativePtr.get sp j) xk
                let zk = spike spec hk
                NativePtr.set hp (row + j) hk
                NativePtr.set zp (row + j) zk
                NativePtr.set sp j (reset spec hk zk)
        nan || not (Vector.EqualsAll (equal, Vector<int>.AllBitsSet))

    /// Forward over neurons [j0, j1) of every step: `forwardLoop` specialised to the spec's charge and reset.
    let private forwardChunk (spec: FusedLifSpec) (steps: int) (neurons: int) (xp: nativeptr<float32>)
                             (hp: nativeptr<float32>) (zp: nativeptr<float32>) (j0: int) (j1: int) : bool =
        let vRest, beta, gain, theta, vReset = V spec.VRest, V spec.Beta, V spec.Gain, V spec.Threshold, V spec.VReset
        let minusOne = V -1.0f
        let inline hard (h: V) (z: V) = h * (V.One - z) + vReset * z
        let inline soft (h: V) (z: V) = h - theta * z
        let inline keep (h: V) (_: V) = h
        let inline exact (v: V) (x: V) = ((v - vRest) * beta + x * gain) + vRest
        let inline integrate (v: V) (x: V) = v + x
        match spec.Charge, spec.Reset with
        | ExactLeak, Hard -> forwardLoop exact hard spec steps neurons xp hp zp j0 j1
        | ExactLeak, Soft -> forwardLoop exact soft spec steps neurons xp hp zp j0 j1
        | ExactLeak, NoReset -> forwardLoop exact keep spec steps neurons xp hp zp j0 j1
        | EulerLeak k, reset ->
            let euler = V k
            let inline leak (v: V) (x: V) = v + ((v - vRest) * minusOne + x) * euler
            match reset with
            | Hard -> forwardLoop leak hard spec steps neurons xp hp zp j0 j1
            | Soft -> forwardLoop leak soft spec steps neurons xp hp zp j0 j1
            | NoReset -> forwardLoop leak keep spec steps neurons xp hp zp j0 j1
        | Integrate, Hard -> forwardLoop integrate hard spec steps neurons xp hp zp j0 j1
        | Integrate, Soft -> forwardLoop integrate soft spec steps neurons xp hp zp j0 j1
        | Integrate, NoReset -> forwardLoop integrate keep spec steps neurons xp hp zp j0 j1

    /// Backward over neurons [j0, j1), from the last step to the first.
    let private backwardChunk (spec: FusedLifSpec) (derivative: V -> V) (scalarDerivative: float32 -> float32)
                              (steps: int) (neurons: int) (gp: nativeptr<float32>) (hp: nativeptr<float32>)
                              (op: nativeptr<float32>) (j0: int) (j1: int) =
        let width = V.Count
        let n = j1 - j0
        let full = n / width * width
        let deltas = Array.zeroCreate<float32> n
        use dp = fixed deltas
        let theta, vReset, beta, gain = V spec.Threshold, V spec.VReset, V spec.Beta, V spec.Gain
        let minusTheta = V -spec.Threshold
        for t in steps - 1 .. -1 .. 0 do
            let row = t * neurons + j0
            let mutable j = 0
            while j < full do
                let h = load hp (row + j)
                let delta = load dp j
                let gradZ = load gp (row + j)
                let dh = chargeGradientVector spec derivative theta vReset minusTheta h delta gradZ
                store (gain * dh) op (row + j)
                store (beta * dh) dp j
                j <- j + width
            for j in full .. n - 1 do
                let dh = chargeGradient spec scalarDerivative (NativePtr.get hp (row + j)) (NativePtr.get dp j) (NativePtr.get gp (row + j))
                NativePtr.set op (row + j) (spec.Gain * dh)
                NativePtr.set dp j (spec.Beta * dh)

    /// Forward: writes the charged potentials h [T; N] and the spikes z [T; N]; true when x holds a NaN.
    let forward (spec: FusedLifSpec) (steps: int) (neurons: int) (x: Tensor) (h: Tensor) (z: Tensor) : bool =
        let xp, hp, zp = address x, address h, address z
        anyChunk neurons (fun j0 j1 ->
            forwardChunk spec steps neurons (NativePtr.ofNativeInt xp) (NativePtr.ofNativeInt hp) (NativePtr.ofNativeInt zp) j0 j1)

    /// Backward: from ∂L/∂z [T; N] and the saved h [T; N], writes ∂L/∂x [T; N].
    let backward (spec: FusedLifSpec) (derivative: V -> V) (scalarDerivative: float32 -> float32) (steps: int)
                 (neurons: int) (gradZ: Tensor) (h: Tensor) (gradX: Tensor) =
        let gp, hp, op = address gradZ, address h, address gradX
        forChunks neurons (fun j0 j1 ->
            backwardChunk spec derivative scalarDerivative steps neurons (NativePtr.ofNativeInt gp) (NativePtr.ofNativeInt hp)
                (NativePtr.ofNativeInt op) j0 j1)

/// The fused IF/LIF recurrence as a TorchSharp autograd function: apply (x [T; ...] float32 contiguous, spec).
type FusedLifFunction() =
    inherit torch.autograd.SingleTensorFunction<FusedLifFunction>()

    /// The autograd node's name.
    override _.Name = "SnnFusedLif"

    /// Runs the recurrence; saves h for the backward pass.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = vars.[0] :?> Tensor
        let spec = vars.[1] :?> FusedLifSpec
        let steps, neurons = Raw.layout x
        let xc = x.detach().contiguous ()
        let h = torch.empty_like xc
        let z = torch.empty_like xc
        let nan =
            if FusedKernelSettings.Vectorised then LifVectorKernel.forward spec steps neurons xc h z
            else LifKernel.forward spec steps neurons xc h z
        if nan then Raw.nanInput ()
        ctx.save_for_backward (Collections.Generic.List [ h ])
        ctx.save_data ("spec", box spec)
        z

    /// Back-propagates through time from ∂L/∂z to ∂L/∂x.
    override _.backward (ctx: torch.autograd.AutogradContext, gradZ: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnFusedLif" 2 (fun () ->
            let h = ctx.get_saved_variables().[0]
            let spec = ctx.get_data "spec" :?> FusedLifSpec
            let derivative = (ScalarSurrogate.derivative spec.Surrogate).Value
            let steps, neurons = Raw.layout h
            let g = gradZ.contiguous ()
            let gradX = torch.empty_like h
            match LifVectorKernel.derivative spec.Surrogate with
            | Some vectorDerivative when FusedKernelSettings.Vectorised ->
                LifVectorKernel.backward spec vectorDerivative derivative steps neurons g h gradX
            | _ -> LifKernel.backward spec derivative steps neurons g h gradX
            // One gradient per argument of apply: the spec gets none.
            Collections.Generic.List [ gradX; null ])

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
            let v = Array.create (j1 - j0) spec.VRest
            let current = Array.zeroCreate<float32> (j1 - j0)
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
        let chunk = chunkSize neurons
        Parallel.For (0, (neurons + chunk - 1) / chunk, fun c ->
            let gs = view gp total
            let hs = view hp total
            let xs = view xp total
            let j0 = c * chunk
            let j1 = min neurons (j0 + chunk)
            let deltaV = Array.zeroCreate<float32> (j1 - j0)
            let deltaI = Array.zeroCreate<float32> (j1 - j0)
            for t in steps - 1 .. -1 .. 0 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let k = row + j
                    let hk = hs.[k]
                    let dh = chargeGradient spec derivative hk deltaV.[j - j0] gs.[k]
                    let di = spec.Gain * dh + alpha * deltaI.[j - j0]
                    xs.[k] <- di
                    deltaI.[j - j0] <- di
                    deltaV.[j - j0] <- spec.Beta * dh) |> ignore

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
        let voltage = Array.create n spec.VRest
        let current = Array.zeroCreate<float32> n
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
    let private backwardChunk (spec: FusedLifSpec) (alpha: float32) (derivative: V -> V) (scalarDerivative: float32 -> float32)
                              (steps: int) (neurons: int) (gp: nativeptr<float32>) (hp: nativeptr<float32>)
                              (op: nativeptr<float32>) (j0: int) (j1: int) =
        let width = V.Count
        let n = j1 - j0
        let full = n / width * width
        let deltaV = Array.zeroCreate<float32> n
        let deltaI = Array.zeroCreate<float32> n
        use dvp = fixed deltaV
        use dip = fixed deltaI
        let theta, vReset, beta, gain, a = V spec.Threshold, V spec.VReset, V spec.Beta, V spec.Gain, V alpha
        let minusTheta = V -spec.Threshold
        for t in steps - 1 .. -1 .. 0 do
            let row = t * neurons + j0
            let mutable j = 0
            while j < full do
                let h = load hp (row + j)
                let delta = load dvp j
                let gradZ = load gp (row + j)
                let dh = chargeGradientVector spec derivative theta vReset minusTheta h delta gradZ
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
                NativePtr.set dvp j (spec.Beta * dh)

    /// Backward: from ∂L/∂z [T; N] and the saved h [T; N], writes ∂L/∂x [T; N].
    let backward (spec: FusedLifSpec) (alpha: float32) (derivative: V -> V) (scalarDerivative: float32 -> float32)
                 (steps: int) (neurons: int) (gradZ: Tensor) (h: Tensor) (gradX: Tensor) =
        let gp, hp, op = address gradZ, address h, address gradX
        forChunks neurons (fun j0 j1 ->
            backwardChunk spec alpha derivative scalarDerivative steps neurons (NativePtr.ofNativeInt gp)
                (NativePtr.ofNativeInt hp) (NativePtr.ofNativeInt op) j0 j1)

/// The fused current-based LIF recurrence as a TorchSharp autograd function: apply (x [T; ...] float32, spec, α).
type FusedCuLifFunction() =
    inherit torch.autograd.SingleTensorFunction<FusedCuLifFunction>()

    /// The autograd node's name.
    override _.Name = "SnnFusedCuLif"

    /// Runs the recurrence; saves h for the backward pass.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = vars.[0] :?> Tensor
        let spec = vars.[1] :?> FusedLifSpec
        let alpha = vars.[2] :?> float32
        let steps, neurons = Raw.layout x
        let xc = x.detach().contiguous ()
        let h, z = torch.empty_like xc, torch.empty_like xc
        let nan =
            if FusedKernelSettings.Vectorised then CuLifVectorKernel.forward spec alpha steps neurons xc h z
            else CuLifKernel.forward spec alpha steps neurons xc h z
        if nan then Raw.nanInput ()
        ctx.save_for_backward (Collections.Generic.List [ h ])
        ctx.save_data ("spec", box spec)
        ctx.save_data ("alpha", box alpha)
        z

    /// Back-propagates through time from ∂L/∂z to ∂L/∂x.
    override _.backward (ctx: torch.autograd.AutogradContext, gradZ: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnFusedCuLif" 3 (fun () ->
            let h = ctx.get_saved_variables().[0]
            let spec = ctx.get_data "spec" :?> FusedLifSpec
            let alpha = ctx.get_data "alpha" :?> float32
            let derivative = (ScalarSurrogate.derivative spec.Surrogate).Value
            let steps, neurons = Raw.layout h
            let gradX = torch.empty_like h
            match LifVectorKernel.derivative spec.Surrogate with
            | Some vectorDerivative when FusedKernelSettings.Vectorised ->
                CuLifVectorKernel.backward spec alpha vectorDerivative derivative steps neurons (gradZ.contiguous ()) h gradX
            | _ -> CuLifKernel.backward spec alpha derivative steps neurons (gradZ.contiguous ()) h gradX
            // One gradient per argument of apply: the spec and α get none.
            Collections.Generic.List [ gradX; null; null ])

/// The raw loops of the fused PLIF kernel (see `Plif`), with k = σ(w) per neuron (w scalar or one per neuron of
/// the trailing dimensions):
///
///     h_t = v_{t-1} + (x_t - (v_{t-1} - v_rest))·k;   z_t, v_t as for LIF
///     ∂L/∂h_t as for LIF;   ∂L/∂x_t = k ∂L/∂h_t;   δv_{t-1} = (1 - k) ∂L/∂h_t;
///     ∂L/∂k = Σ_t ∂L/∂h_t (x_t - (v_{t-1} - v_rest)),   ∂L/∂w = ∂L/∂k · k (1 - k)
///
/// v_{t-1} is recomputed from the saved h_{t-1} by the reset rule, so only x and h are kept.
module internal PlifKernel =

    open Raw

    /// Forward: writes h and z [T; N]; k holds σ(w) per weight, neuron j uses k[j mod k.Length].
    let forward (spec: FusedLifSpec) (k: float32[]) (steps: int) (neurons: int) (x: Tensor) (h: Tensor) (z: Tensor) =
        let xp, hp, zp = address x, address h, address z
        let total = steps * neurons
        let chunk = chunkSize neurons
        Parallel.For (0, (neurons + chunk - 1) / chunk, fun c ->
            let xs = view xp total
            let hs = view hp total
            let zs = view zp total
            let j0 = c * chunk
            let j1 = min neurons (j0 + chunk)
            let v = Array.create (j1 - j0) spec.VRest
            for t in 0 .. steps - 1 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let idx = row + j
                    let vk = v.[j - j0]
                    let hk = vk + (xs.[idx] - (vk - spec.VRest)) * k.[j % k.Length]
                    let zk = spike spec hk
                    hs.[idx] <- hk
                    zs.[idx] <- zk
                    v.[j - j0] <- reset spec hk zk) |> ignore

    /// Backward: writes ∂L/∂x [T; N] and returns ∂L/∂k per weight (summed over the neurons sharing it).
    let backward (spec: FusedLifSpec) (k: float32[]) (derivative: float32 -> float32) (steps: int) (neurons: int)
                 (gradZ: Tensor) (x: Tensor) (h: Tensor) (gradX: Tensor) : float[] =
        let gp, xp, hp, op = address gradZ, address x, address h, address gradX
        let total = steps * neurons
        let chunk = chunkSize neurons
        let chunks = (neurons + chunk - 1) / chunk
        let partial = Array.init chunks (fun _ -> Array.zeroCreate<float> k.Length)
        Parallel.For (0, chunks, fun c ->
            let gs = view gp total
            let xs = view xp total
            let hs = view hp total
            let os = view op total
            let j0 = c * chunk
            let j1 = min neurons (j0 + chunk)
            let delta = Array.zeroCreate<float32> (j1 - j0)
            let gradK = partial.[c]
            for t in steps - 1 .. -1 .. 0 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let idx = row + j
                    let hk = hs.[idx]
                    let dh = chargeGradient spec derivative hk delta.[j - j0] gs.[idx]
                    let kj = k.[j % k.Length]
                    let previous = if t = 0 then spec.VRest else (let hPrevious = hs.[idx - neurons] in reset spec hPrevious (spike spec hPrevious))
                    gradK.[j % k.Length] <- gradK.[j % k.Length] + float (dh * (xs.[idx] - (previous - spec.VRest)))
                    os.[idx] <- kj * dh
                    delta.[j - j0] <- (1.0f - kj) * dh) |> ignore
        Array.init k.Length (fun i -> partial |> Array.sumBy (fun p -> p.[i]))

/// The fused PLIF recurrence as a TorchSharp autograd function: apply (x [T; ...] float32, w, spec); gradients for
/// x and for the time-constant weight w.
type FusedPlifFunction() =
    inherit torch.autograd.SingleTensorFunction<FusedPlifFunction>()

    /// The autograd node's name.
    override _.Name = "SnnFusedPlif"

    /// Runs the recurrence; saves x, h and w for the backward pass.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = vars.[0] :?> Tensor
        let w = vars.[1] :?> Tensor
        let spec = vars.[2] :?> FusedLifSpec
        let steps, neurons = Raw.layout x
        let xc = x.detach().contiguous ()
        let k = Tensors.toArray (torch.sigmoid (w.detach ()))
        let h, z = torch.empty_like xc, torch.empty_like xc
        PlifKernel.forward spec k steps neurons xc h z
        ctx.save_for_backward (Collections.Generic.List [ xc; h; w.detach () ])
        ctx.save_data ("spec", box spec)
        z

    /// Back-propagates through time to x and w.
    override _.backward (ctx: torch.autograd.AutogradContext, gradZ: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnFusedPlif" 3 (fun () ->
            let saved = ctx.get_saved_variables ()
            let x, h, w = saved.[0], saved.[1], saved.[2]
            let spec = ctx.get_data "spec" :?> FusedLifSpec
            let derivative = (ScalarSurrogate.derivative spec.Surrogate).Value
            let k = Tensors.toArray (torch.sigmoid w)
            let steps, neurons = Raw.layout h
            let gradX = torch.empty_like h
            let gradK = PlifKernel.backward spec k derivative steps neurons (gradZ.contiguous ()) x h gradX
            let gradW = Array.map2 (fun (g: float) (kk: float32) -> float32 (g * float kk * (1.0 - float kk))) gradK k
            Collections.Generic.List [ gradX; torch.tensor(gradW).reshape(w.shape).``to`` (w.dtype); null ])

/// Running neuron recurrences with a chosen kernel.
[<RequireQualifiedAccess>]
module Dynamics =

    /// The fused spec of LIF parameters, or why the fused kernel cannot run them.
    let lifSpec (p: LifParameters) : Result<FusedLifSpec, string> =
        if p.RefractorySteps <> 0 then Error "a refractory period"
        elif p.Coupling <> Direct then Error "conductance input"
        elif (ScalarSurrogate.derivative p.Surrogate).IsNone then Error "the ASGL surrogate"
        else
            let beta = Lif.decay p
            let charge, gain =
                match p.Scheme with
                | ExactExponential -> ExactLeak, 1.0 - beta
                | ForwardEuler -> EulerLeak (float32 (p.Dt / p.TauMem)), p.Dt / p.TauMem
            Ok { Charge = charge; Beta = float32 beta; Gain = float32 gain; VRest = float32 p.VRest; Threshold = float32 p.VThreshold
                 VReset = float32 p.VReset; Reset = p.Reset; DetachReset = p.DetachReset; Surrogate = p.Surrogate }

    /// The fused spec of IF parameters (β = c = 1, starting from v_reset).
    let ifSpec (p: IfParameters) : Result<FusedLifSpec, string> =
        if (ScalarSurrogate.derivative p.Surrogate).IsNone then Error "the ASGL surrogate"
        else
            Ok { Charge = Integrate; Beta = 1.0f; Gain = 1.0f; VRest = float32 p.VReset; Threshold = float32 p.VThreshold
                 VReset = float32 p.VReset; Reset = p.Reset; DetachReset = p.DetachReset; Surrogate = p.Surrogate }

    /// Runs a fused spec over inputs [T; B; ...] (float32); spikes [T; B; ...].
    let runFused (spec: FusedLifSpec) (inputs: Tensor) : Tensor =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        if inputs.dtype <> torch.float32 then invalidArg "inputs" $"the fused kernel runs float32 tensors, got {inputs.dtype}"
        if inputs.device_type <> DeviceType.CPU then invalidArg "inputs" "the fused kernel runs on the CPU"
        // NaN inputs are rejected by the kernel itself as it reads them (no separate pass over the tensor).
        FusedLifFunction.apply (inputs, box spec)

    /// LIF spikes [T; B; ...] from rest with the chosen kernel; `Fused` falls back to the reference when the
    /// parameters or dtype need it (refractory period, conductance input, ASGL, non-float32 input).
    let lif (kernel: Kernel) (p: LifParameters) (inputs: Tensor) : Tensor =
        match kernel, lifSpec p with
        | Fused, Ok spec when inputs.dtype = torch.float32 && inputs.device_type = DeviceType.CPU -> runFused spec inputs
        | _ -> Lif.unroll p inputs

    /// CuLIF spikes [T; B; ...] from rest with the chosen kernel (fixed time constants; falls back like `lif`).
    let cuLif (kernel: Kernel) (p: CuLifParameters) (inputs: Tensor) : Tensor =
        match kernel, ScalarSurrogate.derivative p.Surrogate with
        | Fused, Some _ when inputs.dtype = torch.float32 && inputs.device_type = DeviceType.CPU && inputs.dim () >= 1 && inputs.shape.[0] > 0L ->
            let alpha, beta = CuLif.decays p
            let spec =
                { Charge = ExactLeak; Beta = float32 beta; Gain = float32 (1.0 - beta); VRest = float32 p.VRest
                  Threshold = float32 p.VThreshold; VReset = float32 p.VReset; Reset = p.Reset; DetachReset = p.DetachReset
                  Surrogate = p.Surrogate }
            // NaN inputs are rejected by the kernel itself as it reads them.
            FusedCuLifFunction.apply (inputs, box spec, box (float32 alpha))
        | _ -> CuLif.unroll p inputs

    /// PLIF spikes [T; B; ...] from rest with weight w (scalar, or one per neuron of the trailing dimensions) and
    /// the chosen kernel (falls back like `lif`, also for other shapes of w).
    let plif (kernel: Kernel) (p: PlifParameters) (w: Tensor) (inputs: Tensor) : Tensor =
        let dims, wDims = int (inputs.dim ()), int (w.dim ())
        let fits = wDims = 0 || (wDims < dims - 1 && inputs.shape.[dims - wDims ..] = w.shape)
        match kernel, ScalarSurrogate.derivative p.Surrogate with
        | Fused, Some _ when fits && inputs.dtype = torch.float32 && w.dtype = torch.float32 && inputs.device_type = DeviceType.CPU && inputs.dim () >= 1 && inputs.shape.[0] > 0L ->
            let spec =
                { Charge = ExactLeak; Beta = 0.0f; Gain = 0.0f; VRest = float32 p.VRest; Threshold = float32 p.VThreshold
                  VReset = float32 p.VReset; Reset = p.Reset; DetachReset = p.DetachReset; Surrogate = p.Surrogate }
            Neuron.checkInput "inputs" None inputs
            FusedPlifFunction.apply (inputs, w, box spec)
        | _ -> Plif.unroll p w inputs

    /// IF spikes [T; B; ...] from v_reset with the chosen kernel (falls back like `lif`).
    let ifNeuron (kernel: Kernel) (p: IfParameters) (inputs: Tensor) : Tensor =
        match kernel, ifSpec p with
        | Fused, Ok spec when inputs.dtype = torch.float32 && inputs.device_type = DeviceType.CPU -> runFused spec inputs
        | _ -> If.unroll p inputs
