/// Batch normalisation of [N; C; H; W] float32 in training mode (`torch.nn.BatchNorm2d`), bit for bit libtorch's
/// CPU kernel, with its latency hidden.
///
/// Per channel c, over the N·H·W values x of the channel (M = N·H·W, μ_B the momentum):
///
///     mean  = float32 (Σ x / M)                      Σ in double, one value after the other (n, then h·w)
///     S     = float32 Σ (x - mean)²                  each square in float32, Σ in double, same order
///     invstd = float32 (1 / √(double (S / M) + ε))   (S / M in float32)
///     α = invstd · w,  β = fma(-mean, α, b),  y = fma(x, α, β)
///     running_mean ← μ_B · mean + (1 - μ_B) · running_mean                         (float32, no fma)
///     running_var  ← float32 (μ_B · double (S / (M - 1)) + double ((1 - μ_B) · running_var))
///
/// and backward, with dy = ∂L/∂y, per plane (n, c) two float32 reductions of 8 lanes (libtorch's 8-wide AVX2
/// `reduce_all`: lanes accumulate every 8th value, the fused dot accumulates with fma, a short tail goes into the
/// first lanes, then lanes i and i ± 4, ± 2, ± 1 are added; a plane under 8 values is summed in order), summed
/// over n in double:
///
///     s = Σ_n Σ8 dy,  d = Σ_n Σ8 (x - mean)·dy,   k = float32 d · invstd · invstd / M,  g = float32 (s / M)
///     ∂L/∂x = fma(-(x - mean), k, dy - g) · invstd · w,   ∂L/∂w = float32 (d · invstd),   ∂L/∂b = float32 s
///
/// Why: libtorch sums each channel's values in one dependent chain of double additions (about 4 cycles a value),
/// parallel only over channels. Here the 8 lanes of one AVX-512 double register are 8 channels: blocks of 8 values
/// of 8 channels are transposed, and each addition takes the next value of all 8 channels, so every channel's sum
/// is still one chain in exactly libtorch's order (the same bits) while 8 chains share the adder's latency.
/// Measured on W2 (2 cores): see bench/RESULTS.md, "Bit-exact BatchNorm". Which operations libtorch's compiled code fuses
/// into fma and that it runs its 8-wide (AVX2) kernels on this machine were found by testing against it (the
/// bit-comparison tests in Snn.Tests, "BatchNorm2d"). A plane of one value (H·W = 1) goes through libtorch's
/// channels-last kernel, whose order differs: the caller leaves that case to libtorch.
namespace Snn

#nowarn "9"

open System
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Tensors

/// Raw loops of the training-mode batch normalisation over contiguous [N; C; H·W] float32.
module internal BatchNormKernel =

    type private V8 = Vector256<float32>
    type private W = Vector512<float32>

    /// Channels whose sums run side by side in one work item (the 8 double lanes of an AVX-512 register).
    let private group = 8

    /// Runs `body c0 c1` over ranges of two groups of channels, in parallel (on libtorch's OpenMP team, see `Workers`).
    let private forChannelGroups (channels: int) (body: int -> int -> unit) =
        Workers.forRanges channels (2 * group) body

    /// Columns of the 8 × 8 block whose rows are r0 .. r7: column j holds r0[j] .. r7[j].
    let inline private transpose (r0: V8) (r1: V8) (r2: V8) (r3: V8) (r4: V8) (r5: V8) (r6: V8) (r7: V8) =
        let t0, t1 = Avx.UnpackLow (r0, r1), Avx.UnpackHigh (r0, r1)
        let t2, t3 = Avx.UnpackLow (r2, r3), Avx.UnpackHigh (r2, r3)
        let t4, t5 = Avx.UnpackLow (r4, r5), Avx.UnpackHigh (r4, r5)
        let t6, t7 = Avx.UnpackLow (r6, r7), Avx.UnpackHigh (r6, r7)
        let u0, u1 = Avx.Shuffle (t0, t2, 0x44uy), Avx.Shuffle (t0, t2, 0xEEuy)
        let u2, u3 = Avx.Shuffle (t1, t3, 0x44uy), Avx.Shuffle (t1, t3, 0xEEuy)
        let u4, u5 = Avx.Shuffle (t4, t6, 0x44uy), Avx.Shuffle (t4, t6, 0xEEuy)
        let u6, u7 = Avx.Shuffle (t5, t7, 0x44uy), Avx.Shuffle (t5, t7, 0xEEuy)
        struct (Avx.Permute2x128 (u0, u4, 0x20uy), Avx.Permute2x128 (u1, u5, 0x20uy),
                Avx.Permute2x128 (u2, u6, 0x20uy), Avx.Permute2x128 (u3, u7, 0x20uy),
                Avx.Permute2x128 (u0, u4, 0x31uy), Avx.Permute2x128 (u1, u5, 0x31uy),
                Avx.Permute2x128 (u2, u6, 0x31uy), Avx.Permute2x128 (u3, u7, 0x31uy))

    /// The 8 channels' means at c0 as a vector (zero when not `squared`).
    let inline private means (squared: bool) (mean: float32[]) (c0: int) =
        if squared then Vector256.Create (mean.[c0], mean.[c0 + 1], mean.[c0 + 2], mean.[c0 + 3], mean.[c0 + 4], mean.[c0 + 5], mean.[c0 + 6], mean.[c0 + 7])
        else V8.Zero

    /// f(column) in double lanes: the value, or its float32 square deviation from the mean mv.
    let inline private term (squared: bool) (mv: V8) (column: V8) =
        if squared then (let d = column - mv in Avx512F.ConvertToVector512Double (d * d)) else Avx512F.ConvertToVector512Double column

    /// acc plus f of the 8 values at q of 8 channel planes (`image` apart), value by value in order.
    let inline private addBlock (squared: bool) (mv: V8) (image: int) (q: nativeptr<float32>) (acc: Vector512<float>) =
        let struct (k0, k1, k2, k3, k4, k5, k6, k7) =
            transpose (Vector256.Load q) (Vector256.Load (NativePtr.add q image)) (Vector256.Load (NativePtr.add q (2 * image)))
                      (Vector256.Load (NativePtr.add q (3 * image))) (Vector256.Load (NativePtr.add q (4 * image)))
                      (Vector256.Load (NativePtr.add q (5 * image))) (Vector256.Load (NativePtr.add q (6 * image)))
                      (Vector256.Load (NativePtr.add q (7 * image)))
        let term = term squared mv
        acc + term k0 + term k1 + term k2 + term k3 + term k4 + term k5 + term k6 + term k7

    /// acc plus f of value i of 8 channel planes at p (`image` apart).
    let inline private addValue (squared: bool) (mv: V8) (image: int) (p: nativeptr<float32>) (i: int) (acc: Vector512<float>) =
        let at k = NativePtr.get p (k * image + i)
        acc + term squared mv (Vector256.Create (at 0, at 1, at 2, at 3, at 4, at 5, at 6, at 7))

    /// Per channel c0 .. c0 + 7, and with `pair` c0 + 8 .. c0 + 15 too (one double lane each), Σ f(x) over the
    /// channel's values in libtorch's order (n, then h·w), f(x) = x or the float32 square (x - mean_c)², into sums.
    /// Blocks of 8 values of 8 channels are transposed so that each addition takes the next value of all 8 channels
    /// at once. Each lane's sum is one chain of dependent additions (the order libtorch's bits need), so a lone group
    /// waits on the adder's latency; a pair runs two independent chains side by side (W2's blocks 1 and 2, forward
    /// with the statistics, fsi: 3.50-3.67 and 1.52-1.66 ms against 3.75-4.62 and 1.74-1.99 one group at a time).
    let inline private channelSums (pair: bool) (x: nativeptr<float32>) (n: int) (channels: int) (image: int) (c0: int)
                                   (squared: bool) (mean: float32[]) (sums: float[]) =
        let mv0 = means squared mean c0
        let mv1 = if pair then means squared mean (c0 + 8) else V8.Zero
        let mutable acc0 = Vector512<float>.Zero
        let mutable acc1 = Vector512<float>.Zero
        let body = image - image % 8
        for b in 0 .. n - 1 do
            let p0 = NativePtr.add x ((b * channels + c0) * image)
            let p1 = NativePtr.add p0 (8 * image)
            let mutable i = 0
            while i < body do
                acc0 <- addBlock squared mv0 image (NativePtr.add p0 i) acc0
                if pair then acc1 <- addBlock squared mv1 image (NativePtr.add p1 i) acc1
                i <- i + 8
            while i < image do
                acc0 <- addValue squared mv0 image p0 i acc0
                if pair then acc1 <- addValue squared mv1 image p1 i acc1
                i <- i + 1
        for k in 0 .. 7 do sums.[c0 + k] <- acc0.GetElement k
        if pair then for k in 0 .. 7 do sums.[c0 + 8 + k] <- acc1.GetElement k

    // One compiled copy of `channelSums` per width, so that `pair` is a constant inside each loop.
    let private sums8 x n channels image c0 squared mean sums = channelSums false x n channels image c0 squared mean sums
    let private sums16 x n channels image c0 squared mean sums = channelSums true x n channels image c0 squared mean sums

    /// The per-channel statistics of x [N; C; image]: mean and the float32 sum of squared deviations S, each
    /// channel's sums in libtorch's order (8 channels at a time with AVX-512; otherwise, and for a last group of
    /// fewer, one channel at a time).
    let statistics (x: Tensor) (mean: float32[]) (squares: float32[]) =
        let n, channels = int x.shape.[0], int x.shape.[1]
        let image = int (x.numel () / int64 (n * channels))
        let count = float (n * image)
        let xp = NativePtr.ofNativeInt<float32> (Raw.address x)
        let sums = Array.zeroCreate<float> channels
        forChannelGroups channels (fun c0 c1 ->
            let mutable c = c0
            while c < c1 do
                let width = if Avx512F.IsSupported && c + 2 * group <= c1 then 2 * group elif Avx512F.IsSupported && c + group <= c1 then group else 1
                if width > 1 then
                    let sumsOf = if width = 2 * group then sums16 else sums8
                    sumsOf xp n channels image c false mean sums
                    for k in c .. c + width - 1 do mean.[k] <- float32 (sums.[k] / count)
                    sumsOf xp n channels image c true mean sums
                    for k in c .. c + width - 1 do squares.[k] <- float32 sums.[k]
                else
                    let mutable s = 0.0
                    for b in 0 .. n - 1 do
                        let p = NativePtr.add xp ((b * channels + c) * image)
                        for i in 0 .. image - 1 do s <- s + float (NativePtr.get p i)
                    let m = float32 (s / count)
                    mean.[c] <- m
                    let mutable q = 0.0
                    for b in 0 .. n - 1 do
                        let p = NativePtr.add xp ((b * channels + c) * image)
                        for i in 0 .. image - 1 do
                            let d = NativePtr.get p i - m
                            q <- q + float (d * d)
                    squares.[c] <- float32 q
                c <- c + width)

    /// invstd = float32 (1 / √(double (S / M) + ε)) (0 when both are 0, as libtorch's InvStd).
    let invstd (squares: float32) (count: int) (eps: float) : float32 =
        let var = float (squares / float32 count)
        if var = 0.0 && eps = 0.0 then 0.0f else float32 (1.0 / sqrt (var + eps))

    /// The running estimates' update (libtorch's float32 arithmetic, unbiased variance S / (M - 1)).
    let updateRunning (momentum: float) (count: int) (mean: float32[]) (squares: float32[]) (runningMean: Tensor) (runningVar: Tensor) =
        let m = float32 momentum
        let rm = NativePtr.ofNativeInt<float32> (Raw.address runningMean)
        let rv = NativePtr.ofNativeInt<float32> (Raw.address runningVar)
        for c in 0 .. mean.Length - 1 do
            // Two statements, so the product is rounded before the sum (libtorch's code does not fuse them).
            let kept = (1.0f - m) * NativePtr.get rm c
            let moved = m * mean.[c]
            NativePtr.set rm c (moved + kept)
            let unbiased = float (squares.[c] / float32 (count - 1))
            NativePtr.set rv c (float32 (float m * unbiased + float ((1.0f - m) * NativePtr.get rv c)))

    /// y = fma(x, α_c, β_c) over the planes of x [N; C; image].
    let normalise (x: Tensor) (alpha: float32[]) (beta: float32[]) (y: Tensor) =
        let n, channels = int x.shape.[0], int x.shape.[1]
        let image = int (x.numel () / int64 (n * channels))
        let xp = NativePtr.ofNativeInt<float32> (Raw.address x)
        let yp = NativePtr.ofNativeInt<float32> (Raw.address y)
        let body (p0: int) (p1: int) =
            for plane in p0 .. p1 - 1 do
                let c = plane % channels
                let a, b = alpha.[c], beta.[c]
                let av, bv = Vector512.Create a, Vector512.Create b
                let xs, ys = NativePtr.add xp (plane * image), NativePtr.add yp (plane * image)
                let mutable i = 0
                while i + W.Count <= image do
                    Vector512.Store (Vector512.FusedMultiplyAdd (Vector512.Load (NativePtr.add xs i), av, bv), NativePtr.add ys i)
                    i <- i + W.Count
                while i < image do
                    NativePtr.set ys i (MathF.FusedMultiplyAdd (NativePtr.get xs i, a, b))
                    i <- i + 1
        Workers.forPlanes (n * channels) image body

    /// Lane 0 of libtorch's 8-lane horizontal reduction: lanes i and i ^ 4, then ^ 2, then ^ 1 added.
    let inline private across (v: V8) : float32 =
        let v = v + Vector256.Shuffle (v, Vector256.Create (4, 5, 6, 7, 0, 1, 2, 3))
        let v = v + Vector256.Shuffle (v, Vector256.Create (2, 3, 0, 1, 6, 7, 4, 5))
        let v = v + Vector256.Shuffle (v, Vector256.Create (1, 0, 3, 2, 5, 4, 7, 6))
        v.ToScalar ()

    /// Σ8 dy and Σ8 (x - mean)·dy over one plane of `image` values, in libtorch's `reduce_all` order.
    let planeSums (xs: nativeptr<float32>) (dys: nativeptr<float32>) (image: int) (mean: float32) : struct (float32 * float32) =
        if image < V8.Count then
            let mutable s = NativePtr.get dys 0
            let mutable d = (NativePtr.get xs 0 - mean) * NativePtr.get dys 0
            for i in 1 .. image - 1 do
                s <- s + NativePtr.get dys i
                d <- d + (NativePtr.get xs i - mean) * NativePtr.get dys i
            struct (s, d)
        else
            let mv = Vector256.Create mean
            let mutable s = Vector256.Load dys
            let mutable d = (Vector256.Load xs - mv) * s
            let body = image - image % V8.Count
            let mutable i = V8.Count
            while i < body do
                let dy = Vector256.Load (NativePtr.add dys i)
                s <- s + dy
                d <- Vector256.FusedMultiplyAdd (Vector256.Load (NativePtr.add xs i) - mv, dy, d)
                i <- i + V8.Count
            // The tail updates the first image - i lanes only.
            for l in 0 .. image - i - 1 do
                let dy = NativePtr.get dys (i + l)
                s <- s.WithElement (l, s.GetElement l + dy)
                d <- d.WithElement (l, MathF.FusedMultiplyAdd (NativePtr.get xs (i + l) - mean, dy, d.GetElement l))
            struct (across s, across d)

    /// ∂L/∂x of channel c's planes into gp from x, dy [N; C; image] and the channel's sums s = Σ dy and
    /// d = Σ (x - mean)·dy (gp may be dyp: each value is read before it is written).
    let channelInputGradient (xp: nativeptr<float32>) (dyp: nativeptr<float32>) (gp: nativeptr<float32>) (n: int) (channels: int)
                             (image: int) (c: int) (mean: float32) (istd: float32) (w: float32) (s: float) (d: float) =
        let count = n * image
        let k = float32 d * istd * istd / float32 count
        let g = float32 (s / float count)
        let mv, kv, gv, iv, wv = Vector512.Create mean, Vector512.Create k, Vector512.Create g, Vector512.Create istd, Vector512.Create w
        // Last plane first: the planes the sums read last are still in the cache.
        for b in n - 1 .. -1 .. 0 do
            let at = (b * channels + c) * image
            let xs, dys, gs = NativePtr.add xp at, NativePtr.add dyp at, NativePtr.add gp at
            let mutable i = 0
            while i + W.Count <= image do
                let centred = Vector512.Load (NativePtr.add xs i) - mv
                let t = Vector512.FusedMultiplyAdd (-centred, kv, Vector512.Load (NativePtr.add dys i) - gv)
                Vector512.Store (t * iv * wv, NativePtr.add gs i)
                i <- i + W.Count
            while i < image do
                let t = MathF.FusedMultiplyAdd (-(NativePtr.get xs i - mean), k, NativePtr.get dys i - g)
                NativePtr.set gs i (t * istd * w)
                i <- i + 1

    /// ∂L/∂x into gx and, per channel, Σ dy and Σ (x - mean)·dy (double) into sums and dots, from x, dy [N; C; image].
    let backward (x: Tensor) (dy: Tensor) (mean: float32[]) (invstd: float32[]) (weight: float32[]) (gx: Tensor) (sums: float[]) (dots: float[]) =
        let n, channels = int x.shape.[0], int x.shape.[1]
        let image = int (x.numel () / int64 (n * channels))
        let xp = NativePtr.ofNativeInt<float32> (Raw.address x)
        let dyp = NativePtr.ofNativeInt<float32> (Raw.address dy)
        let gp = NativePtr.ofNativeInt<float32> (Raw.address gx)
        let channel (c: int) =
            let m = mean.[c]
            let mutable s = 0.0
            let mutable d = 0.0
            for b in 0 .. n - 1 do
                let at = (b * channels + c) * image
                let struct (ps, pd) = planeSums (NativePtr.add xp at) (NativePtr.add dyp at) image m
                s <- s + float ps
                d <- d + float pd
            sums.[c] <- s
            dots.[c] <- d
            channelInputGradient xp dyp gp n channels image c m invstd.[c] weight.[c] s d
        Workers.forEach channels channel

/// What the backward pass of `BatchNorm2dFunction` needs besides x: the batch statistics and the weight (1 without).
type internal BatchNormSaved = { Mean: float32[]; Invstd: float32[]; Weight: float32[] }

/// The parts of a training-mode batch normalisation around its passes over x, shared by `BatchNorm2dFunction` and
/// the fused blocks (`BatchNormLifPoolFunction`, `ConvBatchNormLifPoolFunction`).
module internal BatchNormForward =

    /// The map y = fma(x, α, β) per channel from batch statistics (per channel the mean and S = Σ (x - mean)² of
    /// `count` values), updating the running estimates when given: (saved statistics and weight, α, β).
    let fromStatistics (mean: float32[]) (squares: float32[]) (count: int) (weight: Tensor) (bias: Tensor)
                       (runningMean: Tensor) (runningVar: Tensor) (momentum: float) (eps: float) =
        let channels = mean.Length
        let invstd = Array.init channels (fun c -> BatchNormKernel.invstd squares.[c] count eps)
        if not (isNull runningMean) then
            use _ = torch.no_grad ()
            BatchNormKernel.updateRunning momentum count mean squares runningMean runningVar
        let w = if isNull weight then Array.create channels 1.0f else Tensors.toArray weight
        let b = if isNull bias then Array.zeroCreate channels else Tensors.toArray bias
        let alpha = Array.init channels (fun c -> invstd.[c] * w.[c])
        let beta = Array.init channels (fun c -> MathF.FusedMultiplyAdd (-mean.[c], alpha.[c], b.[c]))
        { Mean = mean; Invstd = invstd; Weight = w }, alpha, beta

    /// The batch statistics of x [N; C; ...] (updating the running estimates when given) and the map they give,
    /// y = fma(x, α, β) per channel: (saved statistics and weight, α, β).
    let prepare (x: Tensor) (weight: Tensor) (bias: Tensor) (runningMean: Tensor) (runningVar: Tensor) (momentum: float) (eps: float) =
        let channels = int x.shape.[1]
        let count = int (x.numel () / int64 channels)
        let mean, squares = Array.zeroCreate<float32> channels, Array.zeroCreate<float32> channels
        BatchNormKernel.statistics x mean squares
        fromStatistics mean squares count weight bias runningMean runningVar momentum eps

    /// ∂L/∂weight = float32 (d · invstd) and ∂L/∂bias = float32 s from the channels' sums (null where the layer has
    /// no such parameter).
    let parameterGradients (hasWeight: bool) (hasBias: bool) (saved: BatchNormSaved) (sums: float[]) (dots: float[]) : Tensor * Tensor =
        let gw = if hasWeight then torch.tensor (Array.init sums.Length (fun c -> float32 (dots.[c] * float saved.Invstd.[c]))) else null
        let gb = if hasBias then torch.tensor (Array.map float32 sums) else null
        gw, gb

/// Training-mode batch normalisation as an autograd function: apply (x [N; C; H; W] contiguous float32 on the CPU,
/// weight or null, bias or null, running_mean or null, running_var or null, momentum: float, eps: float) → y.
/// Updates the running estimates in place; gradients for x, weight and bias.
type BatchNorm2dFunction() =
    inherit torch.autograd.SingleTensorFunction<BatchNorm2dFunction>()

    /// The autograd node's name.
    override _.Name = "SnnBatchNorm2d"

    /// Normalises with the batch statistics; saves x, the statistics and the weight.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = (vars.[0] :?> Tensor).detach ()
        let weight, bias = vars.[1] :?> Tensor, vars.[2] :?> Tensor
        let runningMean, runningVar = vars.[3] :?> Tensor, vars.[4] :?> Tensor
        let momentum, eps = vars.[5] :?> float, vars.[6] :?> float
        let saved, alpha, beta = BatchNormForward.prepare x weight bias runningMean runningVar momentum eps
        let y = torch.empty_like x
        // TorchSharp reads y when apply returns; libtorch keeps it as the output.
        FunctionHandles.releaseLater [ y ]
        BatchNormKernel.normalise x alpha beta y
        // The kernels read raw addresses, which do not keep a tensor alive.
        GC.KeepAlive x
        // Kept for the backward pass and freed by it (a saved variable would live until the step's scope ends).
        ctx.save_data ("x", KeptForBackward x)
        FunctionHandles.shrinkOutputCache ctx
        ctx.save_data ("saved", box saved)
        ctx.save_data ("affine", box (not (isNull weight), not (isNull bias)))
        y

    /// ∂L/∂x, ∂L/∂weight, ∂L/∂bias.
    override _.backward (ctx: torch.autograd.AutogradContext, gradY: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnBatchNorm2d" 7 (fun () ->
            FunctionHandles.release ()
            use gradY = gradY
            let kept = ctx.get_data "x" :?> KeptForBackward
            let x = kept.Tensor
            let saved = ctx.get_data "saved" :?> BatchNormSaved
            let hasWeight, hasBias = ctx.get_data "affine" :?> bool * bool
            let channels = saved.Mean.Length
            use dy = gradY.contiguous ()
            let gx = torch.empty_like x
            let sums, dots = Array.zeroCreate<float> channels, Array.zeroCreate<float> channels
            BatchNormKernel.backward x dy saved.Mean saved.Invstd saved.Weight gx sums dots
            GC.KeepAlive x
            GC.KeepAlive dy
            kept.Release ()
            FunctionHandles.releaseLater [ gx ]
            let gw, gb = BatchNormForward.parameterGradients hasWeight hasBias saved sums dots
            Collections.Generic.List [ gx; gw; gb; null; null; null; null ])

/// Running batch normalisation over [N; C; H; W].
[<RequireQualifiedAccess>]
module BatchNorm2d =

    /// Whether the fused training kernel gives libtorch's bits for this call: float32 contiguous CPU tensors,
    /// H·W > 1 (libtorch sends H·W = 1 through its channels-last kernel) and more than one value per channel.
    let fusable (x: Tensor) (weight: Tensor) (bias: Tensor) (runningMean: Tensor) (runningVar: Tensor) =
        x.dim () = 4L && isCpuFloat32Contiguous x
        && x.shape.[2] * x.shape.[3] > 1L && x.shape.[0] > 0L && x.numel () <= int64 Int32.MaxValue
        && contiguousCpuFloat32OrNull [ weight; bias; runningMean; runningVar ] && (isNull runningMean = isNull runningVar)

    /// torch.nn.functional.batch_norm (x, runningMean, runningVar, weight, bias, training, momentum, eps): the fused
    /// kernel in training mode where `fusable`, libtorch's operator otherwise.
    let apply (x: Tensor) (runningMean: Tensor) (runningVar: Tensor) (weight: Tensor) (bias: Tensor) (training: bool) (momentum: float) (eps: float) : Tensor =
        if isNull (box x) then nullArg "x"
        if training && fusable x weight bias runningMean runningVar then
            let y = BatchNorm2dFunction.apply (x, weight, bias, runningMean, runningVar, box momentum, box eps)
            FunctionHandles.release ()
            y
        else torch.nn.functional.batch_norm (x, runningMean, runningVar, weight, bias, training, momentum, eps)
