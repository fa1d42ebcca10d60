/// BatchNorm2d → LIF → 2 × 2 max pooling, the block of every spiking VGG / DVS network, as one autograd node whose
/// passes over memory each do the work of all three layers: the same outputs and gradients, bit for bit, as the three
/// fused kernels run one after the other (`BatchNorm2dFunction`, `FusedLifFunction`, `MaxPool2x2Function`).
///
/// For x [T·B; C; H; W] (time-major, the merged batch of a `SpikingSequential`), per channel c with the batch
/// statistics of x (training mode, `BatchNormKernel`):
///
///     y = fma(x, α_c, β_c)                                      batch norm
///     h_t = charge(v_{t-1}, y_t),  z_t = H(h_t - θ),  v_t = R(h_t, z_t)     LIF over the T steps of each neuron
///     o = max of each 2 × 2 window of z_t, k = the window's first maximum    pooling
///
/// Backward, per neuron, from ∂L/∂o: ∂L/∂z_t is ∂L/∂o at the window's choice k (0 elsewhere), the LIF recurrence
/// runs back through time (`Raw.chargeGradient`) to ∂L/∂y, and batch norm's backward takes it to ∂L/∂x, ∂L/∂w, ∂L/∂b.
///
/// Why: run separately, the three layers write and read back y, h, z and ∂L/∂z, four tensors of x's size (75 MB each
/// in W2's first block), besides x and ∂L/∂x. Here the forward pass reads x for the statistics and once more for y, h,
/// z and o, which stay in cache one plane at a time; only o and the choices (a quarter of x's size and a sixteenth)
/// reach memory. Nothing but x and the choices is kept for the backward pass: it recomputes y and h of one neuron
/// plane (all T steps, in cache), writes ∂L/∂y into the buffer of ∂L/∂x, and batch norm's input gradient then
/// overwrites it in place while the channel's planes are still in cache.
///
/// Work items are channels: batch norm's backward needs a channel's sums over all its planes before its input
/// gradient, and each plane's sums are kept and added in libtorch's order (plane n = t·B + b, in order), so the bits
/// are those of the separate layers. The LIF loops run `Vector<float32>` lanes like `LifVectorKernel`; a plane whose
/// size is not a multiple of the lane count runs its last values through the scalar code, which rounds alike
/// (`SurrogateDerivatives`).
namespace Snn

#nowarn "9"

open System
open System.Numerics
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Tensors

/// Raw loops of the fused block over contiguous float32 x [T·B; C; H; W] (H, W even).
module internal BatchNormLifPoolKernel =

    open Raw

    type private V = Vector<float32>

    let inline internal load (p: nativeptr<float32>) (i: int) : V = Vector.Load (NativePtr.add p i)
    let inline internal store (v: V) (p: nativeptr<float32>) (i: int) = Vector.Store (v, NativePtr.add p i)

    /// The shape of one call: T steps, B samples, C channels, planes of H × W = `image` values.
    [<Struct>]
    type Shape = { Steps: int; Batch: int; Channels: int; Height: int; Width: int }

    let inline internal image (s: Shape) = s.Height * s.Width

    /// The offset of plane (t·B + b, c) in x, and of its pooled plane in o.
    let inline private plane (s: Shape) (t: int) (b: int) (c: int) = ((t * s.Batch + b) * s.Channels + c) * image s
    let inline internal pooledPlane (s: Shape) (t: int) (b: int) (c: int) = ((t * s.Batch + b) * s.Channels + c) * (image s / 4)

    /// Runs the T steps of one neuron plane from rest: `visit t h z` after each step's charge h and spikes z (the
    /// vector part through `charge` / `next`, the scalar tail through `Raw`), with y = fma(x, α, β) as the input,
    /// x the `image` values at `input t`; state holds v (`image` values). True when some y is NaN.
    let inline internal steps ([<InlineIfLambda>] charge: V -> V -> V) ([<InlineIfLambda>] next: V -> V -> V)
                              (spec: FusedLifSpec) (shape: Shape) ([<InlineIfLambda>] input: int -> nativeptr<float32>)
                              (alpha: float32) (beta: float32) (state: nativeptr<float32>)
                              ([<InlineIfLambda>] visitVector: int -> int -> V -> V -> unit)
                              ([<InlineIfLambda>] visitScalar: int -> int -> float32 -> float32 -> unit)
                              ([<InlineIfLambda>] stepDone: int -> unit) : bool =
        let n = image shape
        let full = n / V.Count * V.Count
        let av, bv, theta = V alpha, V beta, V spec.Threshold
        Span<float32>(NativePtr.toVoidPtr state, n).Fill spec.VRest
        let mutable equal = Vector<int>.AllBitsSet
        let mutable nan = false
        for t in 0 .. shape.Steps - 1 do
            let xs = input t
            let mutable j = 0
            while j < full do
                let y = Vector.FusedMultiplyAdd (load xs j, av, bv)
                equal <- Vector.BitwiseAnd (equal, Vector.Equals (y, y))
                let h = charge (load state j) y
                let z = Vector.ConditionalSelect (Vector.GreaterThanOrEqual (h, theta), V.One, V.Zero)
                visitVector t j h z
                store (next h z) state j
                j <- j + V.Count
            for j in full .. n - 1 do
                let y = MathF.FusedMultiplyAdd (NativePtr.get xs j, alpha, beta)
                nan <- nan || Single.IsNaN y
                let h = LifVectorKernel.scalarCharge spec (NativePtr.get state j) y
                let z = spike spec h
                visitScalar t j h z
                NativePtr.set state j (reset spec h z)
            stepDone t
        nan || not (Vector.EqualsAll (equal, Vector<int>.AllBitsSet))

    /// One step back through the neurons of a plane of n: from the charges h, ∂L/∂z (gradZ) and ∂L/∂v of the step
    /// after (deltas, replaced by this step's), ∂L/∂y into dys.
    let internal stepBack (spec: FusedLifSpec) (scalarDerivative: float32 -> float32) (n: int) (hs: nativeptr<float32>)
                          (gradZ: nativeptr<float32>) (deltas: nativeptr<float32>) (dys: nativeptr<float32>) =
        let full = n / V.Count * V.Count
        let betaV, gainV = V spec.Beta, V spec.Gain
        LifVectorKernel.withChargeGradient spec (fun chargeGradientOf ->
            let mutable j = 0
            while j < full do
                let delta, gz = load deltas j, load gradZ j
                // Neurons that no window chose at this step or later have ∂L/∂h = +0 exactly (h is finite, the
                // forward pass checked it), so a vector of them skips the surrogate derivative; the pooling passes
                // the gradient to one neuron of four, and in W2 about half the vectors skip.
                if Vector.EqualsAll (delta, V.Zero) && Vector.EqualsAll (gz, V.Zero) then store V.Zero dys j
                else
                    let dh = chargeGradientOf (load hs j) delta gz
                    store (gainV * dh) dys j
                    store (betaV * dh) deltas j
                j <- j + V.Count)
        for j in full .. n - 1 do
            let dh = chargeGradient spec scalarDerivative (NativePtr.get hs j) (NativePtr.get deltas j) (NativePtr.get gradZ j)
            NativePtr.set dys j (spec.Gain * dh)
            NativePtr.set deltas j (spec.Beta * dh)

    /// Forward of channel c: the pooled spikes o and the choices k of every plane; true when some y is NaN.
    let private forwardChannel (spec: FusedLifSpec) (shape: Shape) (xp: nativeptr<float32>) (op: nativeptr<float32>)
                               (kp: nativeptr<byte>) (alpha: float32) (beta: float32) (c: int) : bool =
        let n = image shape
        use stateLease = Scratch.rent n 0.0f
        use spikesLease = Scratch.rent n 0.0f
        use state = fixed stateLease.Values
        use zs = fixed spikesLease.Values
        let mutable nan = false
        for b in 0 .. shape.Batch - 1 do
            let pool t =
                let at = pooledPlane shape t b c
                MaxPoolKernel.forwardSpikePlanes zs (NativePtr.add op at) (NativePtr.add kp at) shape.Height shape.Width shape.Width 0 1
            let found =
                LifVectorKernel.specialise spec (fun charge next ->
                    steps charge next spec shape (fun t -> NativePtr.add xp (plane shape t b c)) alpha beta state
                        (fun _ j _ z -> store z zs j) (fun _ j _ z -> NativePtr.set zs j z) pool)
            nan <- nan || found
        nan

    /// Backward of channel c: ∂L/∂x of its planes into gp, its Σ dy and Σ (x - mean)·dy (double) into sums and dots.
    let private backwardChannel (spec: FusedLifSpec) (scalarDerivative: float32 -> float32) (shape: Shape)
                                (xp: nativeptr<float32>) (gop: nativeptr<float32>) (kp: nativeptr<byte>) (gp: nativeptr<float32>)
                                (saved: BatchNormSaved) (alpha: float32[]) (beta: float32[]) (sums: float[]) (dots: float[]) (c: int) =
        let n = image shape
        let planes = shape.Steps * shape.Batch
        use stateLease = Scratch.rent n 0.0f
        use chargedLease = Scratch.rent (shape.Steps * n) 0.0f
        use deltaLease = Scratch.rent n 0.0f
        use gradZLease = Scratch.rent n 0.0f
        use state = fixed stateLease.Values
        use charged = fixed chargedLease.Values
        use deltas = fixed deltaLease.Values
        use gradZ = fixed gradZLease.Values
        let planeS, planeD = Array.zeroCreate<float32> planes, Array.zeroCreate<float32> planes
        let mean = saved.Mean.[c]
        for b in 0 .. shape.Batch - 1 do
            // The charges h of every step, recomputed from x (the input was checked for NaN by the forward pass).
            LifVectorKernel.specialise spec (fun charge next ->
                steps charge next spec shape (fun t -> NativePtr.add xp (plane shape t b c)) alpha.[c] beta.[c] state
                    (fun t j h _ -> store h charged (t * n + j)) (fun t j h _ -> NativePtr.set charged (t * n + j) h) ignore)
            |> ignore
            Span<float32>(NativePtr.toVoidPtr deltas, n).Clear ()
            for t in shape.Steps - 1 .. -1 .. 0 do
                let at = plane shape t b c
                let pooledAt = pooledPlane shape t b c
                MaxPoolKernel.backwardPlanes (NativePtr.add gop pooledAt) (NativePtr.add kp pooledAt) gradZ shape.Height shape.Width shape.Width 0 1
                let dys = NativePtr.add gp at
                stepBack spec scalarDerivative n (NativePtr.add charged (t * n)) gradZ deltas dys
                let struct (s, d) = BatchNormKernel.planeSums (NativePtr.add xp at) dys n mean
                planeS.[t * shape.Batch + b] <- s
                planeD.[t * shape.Batch + b] <- d
        let mutable s = 0.0
        let mutable d = 0.0
        for p in 0 .. planes - 1 do
            s <- s + float planeS.[p]
            d <- d + float planeD.[p]
        sums.[c] <- s
        dots.[c] <- d
        BatchNormKernel.channelInputGradient xp gp gp planes shape.Channels n c mean saved.Invstd.[c] saved.Weight.[c] s d

    /// The pooled spikes o and choices k (contiguous, [T·B; C; H/2; W/2]) of x; true when some y is NaN.
    let forward (spec: FusedLifSpec) (shape: Shape) (x: Tensor) (alpha: float32[]) (beta: float32[]) (o: Tensor) (k: Tensor) : bool =
        let xp, op = NativePtr.ofNativeInt<float32> (address x), NativePtr.ofNativeInt<float32> (address o)
        let kp = NativePtr.ofNativeInt<byte> (address k)
        let found = Array.zeroCreate<bool> shape.Channels
        Workers.forEach shape.Channels (fun c -> found.[c] <- forwardChannel spec shape xp op kp alpha.[c] beta.[c] c)
        Array.contains true found

    /// ∂L/∂x into gx and the per-channel sums Σ dy, Σ (x - mean)·dy from ∂L/∂o, x and the choices.
    let backward (spec: FusedLifSpec) (scalarDerivative: float32 -> float32) (shape: Shape) (x: Tensor)
                 (gradO: Tensor) (k: Tensor) (saved: BatchNormSaved) (alpha: float32[]) (beta: float32[]) (gx: Tensor)
                 (sums: float[]) (dots: float[]) =
        let xp, gop, gp = NativePtr.ofNativeInt<float32> (address x), NativePtr.ofNativeInt<float32> (address gradO), NativePtr.ofNativeInt<float32> (address gx)
        let kp = NativePtr.ofNativeInt<byte> (address k)
        Workers.forEach shape.Channels (backwardChannel spec scalarDerivative shape xp gop kp gp saved alpha beta sums dots)

/// The fused block as an autograd function: apply (x [T·B; C; H; W] contiguous float32 on the CPU with H, W even,
/// steps T, weight or null, bias or null, running_mean or null, running_var or null, momentum: float, eps: float,
/// spec: FusedLifSpec) → pooled spikes [T·B; C; H/2; W/2]. Training-mode batch norm (updates the running estimates
/// in place); gradients for x, weight and bias.
type BatchNormLifPoolFunction() =
    inherit torch.autograd.SingleTensorFunction<BatchNormLifPoolFunction>()

    /// The autograd node's name.
    override _.Name = "SnnBatchNormLifPool"

    /// Normalises, runs the neurons and pools; keeps x, the choices and the statistics.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = (vars.[0] :?> Tensor).detach ()
        let steps = vars.[1] :?> int
        let weight, bias = vars.[2] :?> Tensor, vars.[3] :?> Tensor
        let runningMean, runningVar = vars.[4] :?> Tensor, vars.[5] :?> Tensor
        let momentum, eps = vars.[6] :?> float, vars.[7] :?> float
        let spec = vars.[8] :?> FusedLifSpec
        let shape : BatchNormLifPoolKernel.Shape =
            { Steps = steps; Batch = int x.shape.[0] / steps; Channels = int x.shape.[1]; Height = int x.shape.[2]; Width = int x.shape.[3] }
        let saved, alpha, beta = BatchNormForward.prepare x weight bias runningMean runningVar momentum eps
        let pooled = [| x.shape.[0]; x.shape.[1]; x.shape.[2] / 2L; x.shape.[3] / 2L |]
        let o = torch.empty (pooled, dtype = torch.float32)
        let choice = torch.empty (pooled, dtype = torch.uint8)
        // TorchSharp reads o and choice when apply returns; libtorch keeps what it needs of them.
        FunctionHandles.releaseLater [ o; choice ]
        let nan = BatchNormLifPoolKernel.forward spec shape x alpha beta o choice
        // The kernels read raw addresses, which do not keep a tensor alive.
        GC.KeepAlive x
        if nan then Raw.nanInput ()
        // Kept for the backward pass and freed by it (a saved variable would live until the step's scope ends).
        ctx.save_data ("x", KeptForBackward x)
        ctx.save_for_backward (Collections.Generic.List [ choice ])
        FunctionHandles.shrinkOutputCache ctx
        ctx.save_data ("saved", box (saved, alpha, beta, shape, spec))
        ctx.save_data ("affine", box (not (isNull weight), not (isNull bias)))
        o

    /// ∂L/∂x, ∂L/∂weight, ∂L/∂bias.
    override _.backward (ctx: torch.autograd.AutogradContext, gradO: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnBatchNormLifPool" 9 (fun () ->
            FunctionHandles.release ()
            use gradO = gradO
            let kept = ctx.get_data "x" :?> KeptForBackward
            let x = kept.Tensor
            use choice = ctx.get_saved_variables().[0]
            let saved, alpha, beta, shape, spec = ctx.get_data "saved" :?> BatchNormSaved * float32[] * float32[] * BatchNormLifPoolKernel.Shape * FusedLifSpec
            let hasWeight, hasBias = ctx.get_data "affine" :?> bool * bool
            let derivative = (SurrogateDerivatives.scalar spec.Surrogate).Value
            use g = gradO.contiguous ()
            let gx = torch.empty_like x
            let sums, dots = Array.zeroCreate<float> shape.Channels, Array.zeroCreate<float> shape.Channels
            BatchNormLifPoolKernel.backward spec derivative shape x g choice saved alpha beta gx sums dots
            GC.KeepAlive x
            GC.KeepAlive g
            GC.KeepAlive choice
            kept.Release ()
            FunctionHandles.releaseLater [ gx ]
            let gw, gb = BatchNormForward.parameterGradients hasWeight hasBias saved sums dots
            Collections.Generic.List [ gx; null; gw; gb; null; null; null; null; null ])
