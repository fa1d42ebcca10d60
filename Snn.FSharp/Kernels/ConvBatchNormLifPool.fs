/// A network's first convolution, its batch normalisation, LIF neurons and 2 × 2 max pooling as one autograd node
/// that never writes the convolution's output: the first block of every DVS network (2-channel event frames →
/// Conv2d → BatchNorm2d → LIF → MaxPool2d), whose input needs no gradient.
///
/// For input x [T·B; C; H; W] (no gradient), W [O; C; k; k], conv bias b, stride 1, zero padding p, and window rows
/// r = (c, ky, kx) of the im2col columns X_n[r, q] of image n at output position q (Ho = H + 2p - k + 1, M = T·B·Ho·Wo
/// positions per channel o):
///
///     u_o = W_o · X + b_o                                         the convolution, one plane at a time
///     G = Σ_n X_n X_nᵀ,  g = Σ_n X_n 1                            the input's Gram matrix and column sums
///     Σ u_o = W_o · g + M b_o,   Σ u_o² = W_o G W_oᵀ + 2 b_o W_o · g + M b_o²        (double)
///     mean = Σ u / M,  var = Σ u² / M - mean²,  α = γ / √(var + ε),  y = α (u - mean) + β,  then LIF and pooling
///
/// so batch norm's statistics come from G, a (C·k² + 1)² matrix, instead of a pass over u. Backward, with
/// dy = ∂L/∂y from the LIF recurrence (as in `BatchNormLifPoolKernel`) and, per channel, s = Σ dy and a = Σ_n X_n dy
/// (one sum per window row, taken while the plane's dy is in cache):
///
///     d = Σ (u - mean) dy = W_o · a + (b_o - mean) s
///     ∂L/∂u = α (dy - s / M - (u - mean) d / (M (var + ε)))                               (batch norm's backward)
///     ∂L/∂W_o = Σ ∂L/∂u · X = α (a - (s / M) g - d / (M (var + ε)) (G W_oᵀ + b_o g - mean g))
///     ∂L/∂b_o = Σ ∂L/∂u = 0 exactly (batch norm removes any shift),   ∂L/∂γ = d / √(var + ε),   ∂L/∂β = s
///
/// Why: in W2 the first convolution's output u is 75 MB ([128; 64; 48; 48]), and run as layers it is written by the
/// convolution (and reordered by oneDNN), read twice for the statistics, once by the block's forward pass, once more
/// by its backward pass, then ∂L/∂u is written, rewritten by batch norm's input gradient and read by the weight
/// gradient. Here one array of u's size reaches memory, once: a work item takes four output channels of one sample, and
/// while one image (C planes of the padded input, 20 KB in W2) sits in L1 it computes u of the four channels, k² · C
/// products per value, each input load serving all four (a 512-bit load that spans two cache lines, as most of these
/// do, costs as much as two multiply-adds). The T steps of the four planes (311 KB in W2) stay in L2 for the neurons,
/// whose charges h go to memory in streaming stores for the backward pass, which reads each once. In W2 (bench,
/// `--fused-input-block`, round 11) the step fell from 139-143 to 127 ms and its peak memory from 455-498 to 326-385
/// MB. Round 11 recomputed the convolution and the neurons in the backward pass instead of keeping h: that took 12.7
/// of its 40 ms of CPU time; keeping h costs 1-2 ms in the forward pass and raised W2's peak memory from 366-384 to
/// 414-444 MB (bench/RESULTS.md round 13).
///
/// The convolution runs on the padded input's own row pitch P = W + 2p: position q = (y, x) is value y·P + x of a
/// padded output plane whose last 2p columns of every row are discarded, so every window row r is the input read at
/// one fixed offset, and each sum is a dot product over contiguous memory. The neurons run on that pitch too (the
/// discarded positions are finite, never pooled, and get ∂L/∂z = 0, so their dy is 0 as the weight-gradient sums
/// need): copying each plane row by row to the output's width and dy back cost about a fifth of the block (W2's first
/// block, two threads: forward 14.4-16.4 → 10.8-11.7 ms, backward 29.3-32.6 → 24.0-24.3 ms, bench/RESULTS.md round
/// 12). The statistics and gradients are sums in another order than libtorch's convolution and batch norm, so they
/// agree with the separate layers to float32 rounding, not bit for bit (a neuron whose charge lies within rounding of
/// the threshold may spike in one and not the other). Sums have a fixed order (images, channels, planes in turn), so
/// the results do not depend on the thread count.
namespace Snn

#nowarn "9"

open System
open System.Numerics
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Tensors

/// Raw loops of the fused first block over the padded input (see the file's description).
module internal ConvBatchNormLifPoolKernel =

    open Raw
    open BatchNormLifPoolKernel

    type private V = Vector<float32>

    /// Positions computed per pass of the convolution: four vectors (of each of four channels).
    let private block = 4 * V.Count

    /// The geometry of one call: T steps, B samples, C input channels of H × W, O output channels, kernel k, padding
    /// p; the padded input has `Rows` rows of `Pitch` = W + 2p values per channel (H + 2p, and more at the bottom so
    /// that a pass's last block reads inside the image).
    [<Struct>]
    type Geometry =
        { Steps: int; Batch: int; InChannels: int; Height: int; Width: int; Channels: int; Kernel: int; Padding: int; Rows: int }
        member g.Pitch = g.Width + 2 * g.Padding
        member g.OutHeight = g.Height + 2 * g.Padding - g.Kernel + 1
        member g.OutWidth = g.Width + 2 * g.Padding - g.Kernel + 1
        /// Window rows C·k².
        member g.Taps = g.InChannels * g.Kernel * g.Kernel
        /// Values of one padded input image.
        member g.ImageSize = g.InChannels * g.Rows * g.Pitch
        /// Values of a padded output plane, Ho·P, rounded up to whole blocks (the sums run over all of them).
        member g.Span = (g.OutHeight * g.Pitch + block - 1) / block * block
        /// The block's shape over the output planes (the pooled planes' offsets).
        member g.Shape : Shape = { Steps = g.Steps; Batch = g.Batch; Channels = g.Channels; Height = g.OutHeight; Width = g.OutWidth }
        /// The neurons' planes on the input's pitch: Ho rows of P values, whose last 2p of each row are discarded
        /// positions that run through the neurons too (finite, never pooled, ∂L/∂z = 0 there).
        member g.PitchShape : Shape = { g.Shape with Width = g.Pitch }

    /// Σ p[i] for i < span (a multiple of `block`), in four sums side by side: one chain of additions waits on each
    /// add's latency, which made the first block's Σ dy cost a tenth of its backward pass.
    let private spanSum (p: nativeptr<float32>) (span: int) : float32 =
        let mutable s0, s1, s2, s3 = V.Zero, V.Zero, V.Zero, V.Zero
        let mutable i = 0
        while i < span do
            s0 <- s0 + load p i
            s1 <- s1 + load p (i + V.Count)
            s2 <- s2 + load p (i + 2 * V.Count)
            s3 <- s3 + load p (i + 3 * V.Count)
            i <- i + block
        Vector.Sum ((s0 + s1) + (s2 + s3))

    /// Rows below the image's last padded row that the last block's reads can reach (one 512-bit vector more for the
    /// 3 × 3 weight-gradient sums, `rowSums3`, which read ahead).
    let extraRows (kernel: int) (pitch: int) = (block + Vector512<float32>.Count + kernel + pitch - 2) / pitch

    /// The offset of window row r = (c, ky, kx) in the padded image.
    let offsets (g: Geometry) = Array.init g.Taps (fun r ->
        let c, ky, kx = r / (g.Kernel * g.Kernel), r / g.Kernel % g.Kernel, r % g.Kernel
        (c * g.Rows + ky) * g.Pitch + kx)

    /// 1 at the padded output plane's valid positions (x < Wo on the first Ho rows), 0 elsewhere.
    let validMask (g: Geometry) = Array.init g.Span (fun i -> if i < g.OutHeight * g.Pitch && i % g.Pitch < g.OutWidth then 1.0f else 0.0f)

    /// xs at the offset of window row r, or of row `fallback` when r is past `last` (a pass's unused sums).
    let inline private rowAt (xs: nativeptr<float32>) (offsets: int[]) (r: int) (last: int) (fallback: int) =
        NativePtr.add xs offsets.[if r < last then r else fallback]

    /// Image n's G and g as one (C·k² + 1)² matrix (row and column C·k² hold g and the count Ho·Wo), float32 sums
    /// within the image, into `gram` (double, row-major). The columns are the window rows X_l (the image at offset
    /// l) and, last, the valid-position mask, whose products give g; a pass takes three masked rows a_r = X_r · mask
    /// against six columns, eighteen sums sharing each load, over the upper triangle l ≥ r. One masked row against
    /// six columns, stored first, took a load per product: first block forward 10.3-11.1 → 9.6-10.4 ms (alternating
    /// builds, bench/RESULTS.md round 12).
    let private imageGram (g: Geometry) (offsets: int[]) (mask: float32[]) (xp: nativeptr<float32>) (n: int) (gram: float[]) =
        let taps = g.Taps
        let xs = NativePtr.add xp (n * g.ImageSize)
        use maskPin = fixed mask
        // Column l: window row l, or the mask for l = taps; past taps, the mask again (dropped).
        let column l = if l < taps then NativePtr.add xs offsets.[l] else maskPin
        let rowOf r = NativePtr.add xs offsets.[min r (taps - 1)]
        let mutable r0 = 0
        while r0 < taps do
            let x0, x1, x2 = rowOf r0, rowOf (r0 + 1), rowOf (r0 + 2)
            let mutable l0 = r0
            while l0 <= taps do
                let q0, q1, q2 = column l0, column (l0 + 1), column (l0 + 2)
                let q3, q4, q5 = column (l0 + 3), column (l0 + 4), column (l0 + 5)
                let mutable s00, s01, s02, s03, s04, s05 = V.Zero, V.Zero, V.Zero, V.Zero, V.Zero, V.Zero
                let mutable s10, s11, s12, s13, s14, s15 = V.Zero, V.Zero, V.Zero, V.Zero, V.Zero, V.Zero
                let mutable s20, s21, s22, s23, s24, s25 = V.Zero, V.Zero, V.Zero, V.Zero, V.Zero, V.Zero
                let mutable i = 0
                while i < g.Span do
                    let m = load maskPin i
                    let a0, a1, a2 = load x0 i * m, load x1 i * m, load x2 i * m
                    let c0 = load q0 i
                    s00 <- Vector.FusedMultiplyAdd (a0, c0, s00); s10 <- Vector.FusedMultiplyAdd (a1, c0, s10); s20 <- Vector.FusedMultiplyAdd (a2, c0, s20)
                    let c1 = load q1 i
                    s01 <- Vector.FusedMultiplyAdd (a0, c1, s01); s11 <- Vector.FusedMultiplyAdd (a1, c1, s11); s21 <- Vector.FusedMultiplyAdd (a2, c1, s21)
                    let c2 = load q2 i
                    s02 <- Vector.FusedMultiplyAdd (a0, c2, s02); s12 <- Vector.FusedMultiplyAdd (a1, c2, s12); s22 <- Vector.FusedMultiplyAdd (a2, c2, s22)
                    let c3 = load q3 i
                    s03 <- Vector.FusedMultiplyAdd (a0, c3, s03); s13 <- Vector.FusedMultiplyAdd (a1, c3, s13); s23 <- Vector.FusedMultiplyAdd (a2, c3, s23)
                    let c4 = load q4 i
                    s04 <- Vector.FusedMultiplyAdd (a0, c4, s04); s14 <- Vector.FusedMultiplyAdd (a1, c4, s14); s24 <- Vector.FusedMultiplyAdd (a2, c4, s24)
                    let c5 = load q5 i
                    s05 <- Vector.FusedMultiplyAdd (a0, c5, s05); s15 <- Vector.FusedMultiplyAdd (a1, c5, s15); s25 <- Vector.FusedMultiplyAdd (a2, c5, s25)
                    i <- i + V.Count
                // Entry (r, l) for a kept row r < taps and column r ≤ l ≤ taps, mirrored.
                let inline put (k: int) (j: int) (v: V) =
                    let r, l = r0 + k, l0 + j
                    if r < taps && l <= taps && l >= r then
                        let value = float (Vector.Sum v)
                        gram.[r * (taps + 1) + l] <- value
                        gram.[l * (taps + 1) + r] <- value
                put 0 0 s00; put 0 1 s01; put 0 2 s02; put 0 3 s03; put 0 4 s04; put 0 5 s05
                put 1 0 s10; put 1 1 s11; put 1 2 s12; put 1 3 s13; put 1 4 s14; put 1 5 s15
                put 2 0 s20; put 2 1 s21; put 2 2 s22; put 2 3 s23; put 2 4 s24; put 2 5 s25
                l0 <- l0 + 6
            r0 <- r0 + 3
        gram.[taps * (taps + 1) + taps] <- float (g.OutHeight * g.OutWidth)

    /// Image n of x [T·B; C; H; W] (contiguous) into the padded layout at xp: a zero border of p, `Rows` rows of
    /// `Pitch` values per channel.
    let private padImage (g: Geometry) (xs: nativeptr<float32>) (xp: nativeptr<float32>) (n: int) =
        let target = NativePtr.add xp (n * g.ImageSize)
        Span<float32>(NativePtr.toVoidPtr target, g.ImageSize).Clear ()
        for c in 0 .. g.InChannels - 1 do
            for y in 0 .. g.Height - 1 do
                let source = NativePtr.add xs (((n * g.InChannels + c) * g.Height + y) * g.Width)
                let row = NativePtr.add target ((c * g.Rows + y + g.Padding) * g.Pitch + g.Padding)
                Span<float32>(NativePtr.toVoidPtr source, g.Width).CopyTo (Span<float32>(NativePtr.toVoidPtr row, g.Width))

    /// Pads x into xpad (see `Geometry`) and returns G and g over all images (each image's in float32, added in image
    /// order in double). Padding here, image by image on the work items, instead of libtorch's `pad` (one thread,
    /// 0.4-0.6 ms for W2's input) leaves each padded image in cache for its Gram matrix.
    let padAndGram (g: Geometry) (x: Tensor) (xpad: Tensor) : float[] =
        let offsets, mask = offsets g, validMask g
        let xs = NativePtr.ofNativeInt<float32> (address x)
        let xp = NativePtr.ofNativeInt<float32> (address xpad)
        let size = (g.Taps + 1) * (g.Taps + 1)
        let images = g.Steps * g.Batch
        let parts = Array.init images (fun _ -> Array.zeroCreate<float> size)
        Workers.forEach images (fun n ->
            padImage g xs xp n
            imageGram g offsets mask xp n parts.[n])
        let total = Array.zeroCreate<float> size
        for part in parts do
            for i in 0 .. size - 1 do total.[i] <- total.[i] + part.[i]
        total

    /// Output channels per work item: each input value loaded by the convolution and by the weight-gradient sums
    /// serves all of them (one 512-bit load spanning two cache lines costs as much as two multiply-adds).
    let private group = 4

    /// Whether the charges (planes of n at hp) take streaming stores: 512-bit vectors on 64-byte aligned planes.
    let private streams (hp: nativeptr<float32>) (n: int) =
        Vector<float32>.Count = Vector512<float32>.Count && Vector512.IsHardwareAccelerated
        && NativePtr.toNativeInt hp % 64n = 0n && n % Vector512<float32>.Count = 0

    /// Stores the charges h at hs + i, past the caches when `streaming`: the backward pass reads them long after they
    /// would have left the cache, and a streaming store does not first read the line it overwrites (W2's first block,
    /// fsi, two threads: forward 14.2-16.5 ms with plain stores, 10.6-11.2 ms streaming).
    let inline private keep (streaming: bool) (h: Vector<float32>) (hs: nativeptr<float32>) (i: int) =
        if streaming then Vector512.StoreAlignedNonTemporal (h.AsVector512 (), NativePtr.add hs i) else store h hs i

    /// The offset of channel o of sample b in the saved charges, [B; O; T; Ho·P] with the steps last to first: the
    /// backward pass then reads each channel's T planes at rising addresses, which the hardware prefetcher follows
    /// (first block backward 15.9-17.9 against 16.9-18.1 ms with the steps in order, fsi; an explicit prefetch of the
    /// next plane cost more than it saved).
    let chargesAt (g: Geometry) (b: int) (o: int) = (b * g.Channels + o) * g.Steps * image g.PitchShape

    /// The number of saved charges, B·O·T·Ho·P.
    let chargeCount (g: Geometry) = int64 g.Batch * int64 g.Channels * int64 g.Steps * int64 (image g.PitchShape)

    /// u without the bias of channels c0 .. c0 + count - 1 (count ≤ `group`) for the T images of sample b, into
    /// `planes` (plane (k·T + t), Span values on the input's pitch, for channel c0 + k and step t; `group` channels'
    /// room). Four channels × four vectors of sums: per window row, four loads and four broadcasts feed sixteen
    /// multiply-adds.
    let private convolveGroup (g: Geometry) (offsets: int[]) (xp: nativeptr<float32>) (weights: nativeptr<float32>)
                              (c0: int) (count: int) (b: int) (planes: nativeptr<float32>) =
        let taps = offsets.Length
        use offs = fixed offsets
        let l = V.Count
        // Channels past `count` repeat the last one and are dropped.
        let weightsOf k = NativePtr.add weights ((c0 + min k (count - 1)) * taps)
        let w0, w1, w2, w3 = weightsOf 0, weightsOf 1, weightsOf 2, weightsOf 3
        for t in 0 .. g.Steps - 1 do
            let xs = NativePtr.add xp ((t * g.Batch + b) * g.ImageSize)
            let planeOf k = NativePtr.add planes ((k * g.Steps + t) * g.Span)
            let p0, p1, p2, p3 = planeOf 0, planeOf 1, planeOf 2, planeOf 3
            let mutable i = 0
            while i < g.Span do
                let mutable a0, a1, a2, a3 = V.Zero, V.Zero, V.Zero, V.Zero
                let mutable b0, b1, b2, b3 = V.Zero, V.Zero, V.Zero, V.Zero
                let mutable c0v, c1, c2, c3 = V.Zero, V.Zero, V.Zero, V.Zero
                let mutable d0, d1, d2, d3 = V.Zero, V.Zero, V.Zero, V.Zero
                let at = NativePtr.add xs i
                for r in 0 .. taps - 1 do
                    let p = NativePtr.add at (NativePtr.get offs r)
                    let x0, x1, x2, x3 = load p 0, load p l, load p (2 * l), load p (3 * l)
                    let u0 = V (NativePtr.get w0 r)
                    a0 <- Vector.FusedMultiplyAdd (u0, x0, a0)
                    a1 <- Vector.FusedMultiplyAdd (u0, x1, a1)
                    a2 <- Vector.FusedMultiplyAdd (u0, x2, a2)
                    a3 <- Vector.FusedMultiplyAdd (u0, x3, a3)
                    let u1 = V (NativePtr.get w1 r)
                    b0 <- Vector.FusedMultiplyAdd (u1, x0, b0)
                    b1 <- Vector.FusedMultiplyAdd (u1, x1, b1)
                    b2 <- Vector.FusedMultiplyAdd (u1, x2, b2)
                    b3 <- Vector.FusedMultiplyAdd (u1, x3, b3)
                    let u2 = V (NativePtr.get w2 r)
                    c0v <- Vector.FusedMultiplyAdd (u2, x0, c0v)
                    c1 <- Vector.FusedMultiplyAdd (u2, x1, c1)
                    c2 <- Vector.FusedMultiplyAdd (u2, x2, c2)
                    c3 <- Vector.FusedMultiplyAdd (u2, x3, c3)
                    let u3 = V (NativePtr.get w3 r)
                    d0 <- Vector.FusedMultiplyAdd (u3, x0, d0)
                    d1 <- Vector.FusedMultiplyAdd (u3, x1, d1)
                    d2 <- Vector.FusedMultiplyAdd (u3, x2, d2)
                    d3 <- Vector.FusedMultiplyAdd (u3, x3, d3)
                store a0 p0 i; store a1 p0 (i + l); store a2 p0 (i + 2 * l); store a3 p0 (i + 3 * l)
                store b0 p1 i; store b1 p1 (i + l); store b2 p1 (i + 2 * l); store b3 p1 (i + 3 * l)
                store c0v p2 i; store c1 p2 (i + l); store c2 p2 (i + 2 * l); store c3 p2 (i + 3 * l)
                store d0 p3 i; store d1 p3 (i + l); store d2 p3 (i + 2 * l); store d3 p3 (i + 3 * l)
                i <- i + block

    /// out[k·taps + r0 + j] += sum (a vector's lanes added), for a kept channel k and window row r0 + j.
    let inline private addSum (out: float[]) (taps: int) (count: int) (r0: int) (k: int) (j: int) (sum: float32) =
        if k < count && r0 + j < taps then out.[k * taps + r0 + j] <- out.[k * taps + r0 + j] + float sum

    /// out[k·taps + r] += Σ_i dy_k[i] · xs[i + offsets[r]] for the `group` planes dy_k (Span values each, on the
    /// input's pitch, zero at discarded positions) and every window row r: four channels × three rows of sums,
    /// float32 within the plane, added to out in double. Channels past `count` repeat the last one and are dropped.
    let private rowSums (g: Geometry) (offsets: int[]) (dys: nativeptr<float32>) (count: int) (xs: nativeptr<float32>) (out: float[]) =
        let taps = offsets.Length
        let dyOf k = NativePtr.add dys (min k (count - 1) * g.Span)
        let y0, y1, y2, y3 = dyOf 0, dyOf 1, dyOf 2, dyOf 3
        let mutable next = 0
        while next < taps do
            let r0 = next
            // Rows past the last read row r0 again and are dropped.
            let q0, q1, q2 = rowAt xs offsets r0 taps r0, rowAt xs offsets (r0 + 1) taps r0, rowAt xs offsets (r0 + 2) taps r0
            let mutable a0, a1, a2 = V.Zero, V.Zero, V.Zero
            let mutable b0, b1, b2 = V.Zero, V.Zero, V.Zero
            let mutable c0, c1, c2 = V.Zero, V.Zero, V.Zero
            let mutable d0, d1, d2 = V.Zero, V.Zero, V.Zero
            let mutable i = 0
            while i < g.Span do
                let x0, x1, x2 = load q0 i, load q1 i, load q2 i
                let e0 = load y0 i
                a0 <- Vector.FusedMultiplyAdd (e0, x0, a0)
                a1 <- Vector.FusedMultiplyAdd (e0, x1, a1)
                a2 <- Vector.FusedMultiplyAdd (e0, x2, a2)
                let e1 = load y1 i
                b0 <- Vector.FusedMultiplyAdd (e1, x0, b0)
                b1 <- Vector.FusedMultiplyAdd (e1, x1, b1)
                b2 <- Vector.FusedMultiplyAdd (e1, x2, b2)
                let e2 = load y2 i
                c0 <- Vector.FusedMultiplyAdd (e2, x0, c0)
                c1 <- Vector.FusedMultiplyAdd (e2, x1, c1)
                c2 <- Vector.FusedMultiplyAdd (e2, x2, c2)
                let e3 = load y3 i
                d0 <- Vector.FusedMultiplyAdd (e3, x0, d0)
                d1 <- Vector.FusedMultiplyAdd (e3, x1, d1)
                d2 <- Vector.FusedMultiplyAdd (e3, x2, d2)
                i <- i + V.Count
            let inline add k j (v: V) = addSum out taps count r0 k j (Vector.Sum v)
            add 0 0 a0; add 0 1 a1; add 0 2 a2
            add 1 0 b0; add 1 1 b1; add 1 2 b2
            add 2 0 c0; add 2 1 c1; add 2 2 c2
            add 3 0 d0; add 3 1 d1; add 3 2 d2
            next <- r0 + 3

    /// `rowSums` for a 3 × 3 kernel with 512-bit vectors: the three window rows (c, ky, 0..2) of one input row are
    /// that row read at i, i + 1 and i + 2, so one load per 16 positions, shifted by `valignd` against the next 16
    /// values, gives all three; the generic loop loads each at its own offset, and most of those loads span two
    /// cache lines. The same sums in the same order as `rowSums` with 16 lanes. W2's first block, backward: 23.2-24.8
    /// → 22.1-22.9 ms (two threads, alternating builds, bench/RESULTS.md round 12). Reads up to one vector past the
    /// span (`extraRows` leaves room).
    let private rowSums3 (g: Geometry) (dys: nativeptr<float32>) (count: int) (xs: nativeptr<float32>) (out: float[]) =
        let taps = g.Taps
        let dyOf k = NativePtr.add dys (min k (count - 1) * g.Span)
        let y0, y1, y2, y3 = dyOf 0, dyOf 1, dyOf 2, dyOf 3
        let lanes = Vector512<float32>.Count
        let inline wide (p: nativeptr<float32>) (i: int) = Vector512.Load (NativePtr.add p i)
        for c in 0 .. g.InChannels - 1 do
            for ky in 0 .. 2 do
                let r0 = (c * 3 + ky) * 3
                let q = NativePtr.add xs ((c * g.Rows + ky) * g.Pitch)
                let mutable a0, a1, a2 = Vector512<float32>.Zero, Vector512<float32>.Zero, Vector512<float32>.Zero
                let mutable b0, b1, b2 = Vector512<float32>.Zero, Vector512<float32>.Zero, Vector512<float32>.Zero
                let mutable c0, c1, c2 = Vector512<float32>.Zero, Vector512<float32>.Zero, Vector512<float32>.Zero
                let mutable d0, d1, d2 = Vector512<float32>.Zero, Vector512<float32>.Zero, Vector512<float32>.Zero
                let mutable current = wide q 0
                let mutable i = 0
                while i < g.Span do
                    let following = wide q (i + lanes)
                    let x0 = current
                    let x1 = Vector512.AsSingle (Avx512F.AlignRight32 (Vector512.AsInt32 following, Vector512.AsInt32 current, 1uy))
                    let x2 = Vector512.AsSingle (Avx512F.AlignRight32 (Vector512.AsInt32 following, Vector512.AsInt32 current, 2uy))
                    let e0 = wide y0 i
                    a0 <- Avx512F.FusedMultiplyAdd (e0, x0, a0)
                    a1 <- Avx512F.FusedMultiplyAdd (e0, x1, a1)
                    a2 <- Avx512F.FusedMultiplyAdd (e0, x2, a2)
                    let e1 = wide y1 i
                    b0 <- Avx512F.FusedMultiplyAdd (e1, x0, b0)
                    b1 <- Avx512F.FusedMultiplyAdd (e1, x1, b1)
                    b2 <- Avx512F.FusedMultiplyAdd (e1, x2, b2)
                    let e2 = wide y2 i
                    c0 <- Avx512F.FusedMultiplyAdd (e2, x0, c0)
                    c1 <- Avx512F.FusedMultiplyAdd (e2, x1, c1)
                    c2 <- Avx512F.FusedMultiplyAdd (e2, x2, c2)
                    let e3 = wide y3 i
                    d0 <- Avx512F.FusedMultiplyAdd (e3, x0, d0)
                    d1 <- Avx512F.FusedMultiplyAdd (e3, x1, d1)
                    d2 <- Avx512F.FusedMultiplyAdd (e3, x2, d2)
                    current <- following
                    i <- i + lanes
                let inline add k j (v: Vector512<float32>) = addSum out taps count r0 k j (Vector512.Sum v)
                add 0 0 a0; add 0 1 a1; add 0 2 a2
                add 1 0 b0; add 1 1 b1; add 1 2 b2
                add 2 0 c0; add 2 1 c1; add 2 2 c2
                add 3 0 d0; add 3 1 d1; add 3 2 d2

    /// Forward of channels c0 .. c0 + count - 1: pooled spikes and choices of every plane; true when some y is NaN.
    let private forwardGroup (spec: FusedLifSpec) (g: Geometry) (offsets: int[]) (xp: nativeptr<float32>) (weights: nativeptr<float32>)
                             (op: nativeptr<float32>) (kp: nativeptr<byte>) (hp: nativeptr<float32>) (alpha: float32[]) (beta: float32[])
                             (c0: int) (count: int) : bool =
        let shape, neurons = g.Shape, g.PitchShape
        let n = image neurons
        // No charges to keep when no backward pass can follow (hp null).
        let keeping = not (NativePtr.isNullPtr hp)
        let streaming = keeping && streams hp n
        use planesLease = Scratch.rent (group * g.Steps * g.Span) 0.0f
        use stateLease = Scratch.rent n 0.0f
        use spikesLease = Scratch.rent n 0.0f
        use planes = fixed planesLease.Values
        use state = fixed stateLease.Values
        use zs = fixed spikesLease.Values
        let mutable nan = false
        for b in 0 .. g.Batch - 1 do
            convolveGroup g offsets xp weights c0 count b planes
            for k in 0 .. count - 1 do
                let o = c0 + k
                let pool t =
                    let at = pooledPlane shape t b o
                    MaxPoolKernel.forwardSpikePlanes zs (NativePtr.add op at) (NativePtr.add kp at) shape.Height shape.Width g.Pitch 0 1
                let found =
                    LifVectorKernel.specialise spec (fun charge next ->
                        let hs = NativePtr.add hp (chargesAt g b o)
                        steps charge next spec neurons (fun t -> NativePtr.add planes ((k * g.Steps + t) * g.Span)) alpha.[o] beta.[o] state
                            (fun t j h z ->
                                store z zs j
                                if keeping then keep streaming h hs ((g.Steps - 1 - t) * n + j))
                            (fun t j h z ->
                                NativePtr.set zs j z
                                if keeping then NativePtr.set hs ((g.Steps - 1 - t) * n + j) h) pool)
                nan <- nan || found
        // Streaming stores are weakly ordered: make them visible before the work item ends.
        if streaming then Sse.StoreFence ()
        nan

    /// Backward of channels c0 .. c0 + count - 1 from the saved charges hp: s = Σ dy into sums and a = Σ_n X_n dy into
    /// rows ([O; C·k²]).
    let private backwardGroup (spec: FusedLifSpec) (scalarDerivative: float32 -> float32) (g: Geometry)
                              (offsets: int[]) (xp: nativeptr<float32>) (gop: nativeptr<float32>) (kp: nativeptr<byte>)
                              (hp: nativeptr<float32>) (sums: float[]) (rows: float[]) (c0: int) (count: int) =
        let shape, neurons = g.Shape, g.PitchShape
        let n = image neurons
        use deltaLease = Scratch.rent (group * n) 0.0f
        // Zero at the discarded positions (the pooling's backward pass never writes them), so dy is 0 there.
        use gradZLease = Scratch.rent n 0.0f
        // dy of the `group` channels at one step on the input's pitch, zero past Ho·P.
        use dyLease = Scratch.rent (group * g.Span) 0.0f
        use deltas = fixed deltaLease.Values
        use gradZ = fixed gradZLease.Values
        use dys = fixed dyLease.Values
        let s = Array.zeroCreate<float> count
        let a = Array.zeroCreate<float> (count * g.Taps)
        let threeByThree = g.Kernel = 3 && Vector512.IsHardwareAccelerated
        for b in 0 .. g.Batch - 1 do
            Span<float32>(NativePtr.toVoidPtr deltas, group * n).Clear ()
            for t in shape.Steps - 1 .. -1 .. 0 do
                for k in 0 .. count - 1 do
                    let pooledAt = pooledPlane shape t b (c0 + k)
                    MaxPoolKernel.backwardPlanes (NativePtr.add gop pooledAt) (NativePtr.add kp pooledAt) gradZ shape.Height shape.Width g.Pitch 0 1
                    let dy = NativePtr.add dys (k * g.Span)
                    let hs = NativePtr.add hp (chargesAt g b (c0 + k) + (g.Steps - 1 - t) * n)
                    stepBack spec scalarDerivative n hs gradZ (NativePtr.add deltas (k * n)) dy
                    s.[k] <- s.[k] + float (spanSum dy g.Span)
                let xs = NativePtr.add xp ((t * g.Batch + b) * g.ImageSize)
                if threeByThree then rowSums3 g dys count xs a else rowSums g offsets dys count xs a
        for k in 0 .. count - 1 do
            sums.[c0 + k] <- s.[k]
            Array.blit a (k * g.Taps) rows ((c0 + k) * g.Taps) g.Taps

    /// Runs `body c0 count` over the groups of output channels, in parallel.
    let private forGroups (g: Geometry) (body: int -> int -> unit) =
        Workers.forEach ((g.Channels + group - 1) / group) (fun item -> let c0 = item * group in body c0 (min group (g.Channels - c0)))

    /// Pooled spikes o, choices k and charges h ([B; O; T; Ho·P], steps reversed, see `chargesAt`; none when h is
    /// null) of the padded input (see `Geometry`) with the map y = fma(u, α, β) per channel (β holding the conv bias);
    /// true when some y is NaN.
    let forward (spec: FusedLifSpec) (g: Geometry) (xpad: Tensor) (weight: float32[]) (alpha: float32[]) (beta: float32[])
                (o: Tensor) (k: Tensor) (h: Tensor) : bool =
        let offsets = offsets g
        let xp, op = NativePtr.ofNativeInt<float32> (address xpad), NativePtr.ofNativeInt<float32> (address o)
        let hp = if isNull h then NativePtr.nullPtr else NativePtr.ofNativeInt<float32> (address h)
        let kp = NativePtr.ofNativeInt<byte> (address k)
        use wp = fixed weight
        let found = Array.zeroCreate<bool> g.Channels
        forGroups g (fun c0 count -> found.[c0] <- forwardGroup spec g offsets xp wp op kp hp alpha beta c0 count)
        Array.contains true found

    /// Per channel, s = Σ dy (into sums) and a = Σ_n X_n dy (into rows, [O; C·k²]) from ∂L/∂o, the choices and the
    /// charges.
    let backward (spec: FusedLifSpec) (scalarDerivative: float32 -> float32) (g: Geometry) (xpad: Tensor)
                 (gradO: Tensor) (k: Tensor) (h: Tensor) (sums: float[]) (rows: float[]) =
        let offsets = offsets g
        let xp, gop = NativePtr.ofNativeInt<float32> (address xpad), NativePtr.ofNativeInt<float32> (address gradO)
        let kp, hp = NativePtr.ofNativeInt<byte> (address k), NativePtr.ofNativeInt<float32> (address h)
        forGroups g (fun c0 count -> backwardGroup spec scalarDerivative g offsets xp gop kp hp sums rows c0 count)

/// What the backward pass needs of a call besides the padded input and the choices.
type internal ConvBlockSaved =
    { Geometry: ConvBatchNormLifPoolKernel.Geometry
      Spec: FusedLifSpec
      Weight: float32[]
      ConvBias: float[]
      /// The channels' mean of u (double; the float32 one is in `Statistics`).
      Mean: float[]
      /// (G Wᵀ) per channel and window row, [O; C·k²].
      GramWeights: float[]
      Statistics: BatchNormSaved
      Gram: float[]
      HasConvBias: bool
      /// Whether batch norm has a weight and a bias.
      Affine: bool * bool }

/// The fused first block as an autograd function: apply (x [T·B; C; H; W] contiguous float32 on the CPU without
/// gradient, steps T, conv weight [O; C; k; k], conv bias or null, padding: int, bn weight or null, bn bias or null,
/// running_mean or null, running_var or null, momentum: float, eps: float, spec: FusedLifSpec, whether a backward
/// pass can follow: bool) → pooled spikes [T·B; O; Ho/2; Wo/2] (Ho, Wo even). Training-mode batch norm (updates the
/// running estimates in place); gradients for the conv weight and bias and the bn weight and bias.
type ConvBatchNormLifPoolFunction() =
    inherit torch.autograd.SingleTensorFunction<ConvBatchNormLifPoolFunction>()

    /// The autograd node's name.
    override _.Name = "SnnConvBatchNormLifPool"

    /// Pads the input, takes the statistics from its Gram matrix, runs the block; keeps the padded input and choices.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = (vars.[0] :?> Tensor).detach ()
        let steps = vars.[1] :?> int
        let convWeight, convBias, padding = vars.[2] :?> Tensor, vars.[3] :?> Tensor, vars.[4] :?> int
        let gamma, betaBn = vars.[5] :?> Tensor, vars.[6] :?> Tensor
        let runningMean, runningVar = vars.[7] :?> Tensor, vars.[8] :?> Tensor
        let momentum, eps = vars.[9] :?> float, vars.[10] :?> float
        let spec = vars.[11] :?> FusedLifSpec
        let backwardFollows = vars.[12] :?> bool
        let kernel = int convWeight.shape.[2]
        let pitch = int x.shape.[3] + 2 * padding
        let extra = ConvBatchNormLifPoolKernel.extraRows kernel pitch
        let g : ConvBatchNormLifPoolKernel.Geometry =
            { Steps = steps; Batch = int x.shape.[0] / steps; InChannels = int x.shape.[1]; Height = int x.shape.[2]; Width = int x.shape.[3]
              Channels = int convWeight.shape.[0]; Kernel = kernel; Padding = padding; Rows = int x.shape.[2] + 2 * padding + extra }
        let xpad = torch.empty ([| x.shape.[0]; x.shape.[1]; int64 g.Rows; int64 pitch |], dtype = torch.float32)
        use source = x.contiguous ()
        let gram = ConvBatchNormLifPoolKernel.padAndGram g source xpad
        GC.KeepAlive source
        let weight = Tensors.toArray (convWeight.detach().contiguous ())
        let channels, taps = g.Channels, g.Taps
        let bias = if isNull convBias then Array.zeroCreate channels else Tensors.toArray convBias |> Array.map float
        let count = g.Steps * g.Batch * g.OutHeight * g.OutWidth
        let at r l = gram.[r * (taps + 1) + l]
        // (G Wᵀ) per channel and window row: for Σ u² here and for the weight gradient.
        let gramWeights = Array.init (channels * taps) (fun i ->
            let o, r = i / taps, i % taps
            let mutable sum = 0.0
            for l in 0 .. taps - 1 do sum <- sum + at r l * float weight.[o * taps + l]
            sum)
        let mean, squares = Array.zeroCreate<float> channels, Array.zeroCreate<float32> channels
        for o in 0 .. channels - 1 do
            // Σ u = W·g + M b and Σ u² = W G Wᵀ + 2 b W·g + M b², from the Gram matrix.
            let mutable wg, wgw = 0.0, 0.0
            for r in 0 .. taps - 1 do
                let w = float weight.[o * taps + r]
                wg <- wg + w * at r taps
                wgw <- wgw + w * gramWeights.[o * taps + r]
            let m = float count
            mean.[o] <- (wg + m * bias.[o]) / m
            // S = Σ (u - mean)² = Σ u² - M mean².
            squares.[o] <- float32 (max 0.0 (wgw + 2.0 * bias.[o] * wg + m * bias.[o] * bias.[o] - m * mean.[o] * mean.[o]))
        let statistics, alpha, betaOfU =
            BatchNormForward.fromStatistics (Array.map float32 mean) squares count gamma betaBn runningMean runningVar momentum eps
        // The kernel's u leaves the conv bias out: y = α (u + b) + β = fma(u, α, fma(b, α, β)).
        let beta = Array.init channels (fun o -> MathF.FusedMultiplyAdd (float32 bias.[o], alpha.[o], betaOfU.[o]))
        let pooled = [| x.shape.[0]; int64 channels; int64 (g.OutHeight / 2); int64 (g.OutWidth / 2) |]
        let o = torch.empty (pooled, dtype = torch.float32)
        let choice = torch.empty (pooled, dtype = torch.uint8)
        // TorchSharp reads o and choice when apply returns; libtorch keeps what it needs of them.
        FunctionHandles.releaseLater [ o; choice ]
        // The charges (78 MB in W2) only when a backward pass can follow: without one, they would wait for the
        // garbage collector, which does not see their size.
        let charges =
            if backwardFollows then torch.empty ([| ConvBatchNormLifPoolKernel.chargeCount g |], dtype = torch.float32) else null
        let nan = ConvBatchNormLifPoolKernel.forward spec g xpad weight alpha beta o choice charges
        // The kernels read raw addresses, which do not keep a tensor alive.
        GC.KeepAlive xpad
        GC.KeepAlive charges
        if nan || not backwardFollows then
            xpad.Dispose ()
            if backwardFollows then charges.Dispose ()
        if nan then Raw.nanInput ()
        // Kept for the backward pass and freed by it.
        if backwardFollows then
            ctx.save_data ("x", KeptForBackward xpad)
            ctx.save_data ("h", KeptForBackward charges)
        ctx.save_for_backward (Collections.Generic.List [ choice ])
        FunctionHandles.shrinkOutputCache ctx
        ctx.save_data ("saved", box
            { Geometry = g; Spec = spec; Weight = weight; ConvBias = bias; Mean = mean; GramWeights = gramWeights
              Statistics = statistics; Gram = gram; HasConvBias = not (isNull convBias)
              Affine = (not (isNull gamma), not (isNull betaBn)) })
        o

    /// Gradients of the conv weight and bias and the bn weight and bias (none for x).
    override _.backward (ctx: torch.autograd.AutogradContext, gradO: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnConvBatchNormLifPool" 13 (fun () ->
            FunctionHandles.release ()
            use gradO = gradO
            let kept = ctx.get_data "x" :?> KeptForBackward
            let xpad = kept.Tensor
            use choice = ctx.get_saved_variables().[0]
            let saved = ctx.get_data "saved" :?> ConvBlockSaved
            let g, spec = saved.Geometry, saved.Spec
            let channels, taps = g.Channels, g.Taps
            let derivative = (SurrogateDerivatives.scalar spec.Surrogate).Value
            use go = gradO.contiguous ()
            let sums, rows = Array.zeroCreate<float> channels, Array.zeroCreate<float> (channels * taps)
            let keptCharges = ctx.get_data "h" :?> KeptForBackward
            ConvBatchNormLifPoolKernel.backward spec derivative g xpad go choice keptCharges.Tensor sums rows
            GC.KeepAlive xpad
            GC.KeepAlive go
            GC.KeepAlive choice
            GC.KeepAlive keptCharges
            kept.Release ()
            keptCharges.Release ()
            let count = float (g.Steps * g.Batch * g.OutHeight * g.OutWidth)
            let at r l = saved.Gram.[r * (taps + 1) + l]
            let gradWeight = Array.zeroCreate<float32> (channels * taps)
            let dots = Array.zeroCreate<float> channels
            for o in 0 .. channels - 1 do
                let w r = float saved.Weight.[o * taps + r]
                let a r = rows.[o * taps + r]
                let s, b, mean = sums.[o], saved.ConvBias.[o], saved.Mean.[o]
                let invstd = float saved.Statistics.Invstd.[o]
                // d = Σ (u - mean) dy = W·a + (b - mean) s.
                let mutable d = (b - mean) * s
                for r in 0 .. taps - 1 do d <- d + w r * a r
                dots.[o] <- d
                let scale = float saved.Statistics.Weight.[o] * invstd
                let k = d * invstd * invstd / count
                for r in 0 .. taps - 1 do
                    // Σ (u - mean) X_r = (G Wᵀ)_r + (b - mean) g_r.
                    let centred = saved.GramWeights.[o * taps + r] + (b - mean) * at r taps
                    gradWeight.[o * taps + r] <- float32 (scale * (a r - s / count * at r taps - k * centred))
            let gw = torch.tensor (gradWeight, ReadOnlySpan<int64> [| int64 channels; int64 g.InChannels; int64 g.Kernel; int64 g.Kernel |])
            let gb = if saved.HasConvBias then torch.zeros ([| int64 channels |]) else null
            let hasGamma, hasBeta = saved.Affine
            let gGamma, gBeta = BatchNormForward.parameterGradients hasGamma hasBeta saved.Statistics sums dots
            Collections.Generic.List [ null; null; gw; gb; null; gGamma; gBeta; null; null; null; null; null; null ])
