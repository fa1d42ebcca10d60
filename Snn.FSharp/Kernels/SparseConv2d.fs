/// A 2-D convolution (stride 1, no dilation, one group) for binary spike input that only touches the weights of
/// active inputs.
///
/// For x [N; C; H; W] ∈ {0, 1}, W [O; C; kh; kw], b [O], padding p ≤ k - 1 and the output y [N; O; OH; OW] with
/// OH = H + 2p - kh + 1 (OW likewise):
///
///     forward:        y[n, :, i, j] = b + Σ_{ky, kx} Σ_{c : x[n, c, i+ky-p, j+kx-p] = 1} W[:, c, ky, kx]
///     weight grad:    ∂L/∂W[:, c, ky, kx] = Σ_{(n, i, j) : x[n, c, i+ky-p, j+kx-p] = 1} ∂L/∂y[n, :, i, j]
///     bias grad:      ∂L/∂b = Σ_{n, i, j} ∂L/∂y[n, :, i, j]
///     input grad:     ∂L/∂x = conv_transpose2d (∂L/∂y, W, padding p)                (dense; only when x needs it)
///
/// The input gradient is the one dense product left; with `bf16InputGradient` its operands ∂L/∂y and W are rounded
/// to bfloat16 and libtorch sums in float32, twice as fast where bfloat16 dot products are (W2's second layer).
///
/// With input activity q the forward and weight gradient cost q times the dense convolution's multiply-adds, as
/// vector additions of O-wide weight (or gradient) rows. The input is kept as one bit per channel and pixel (a
/// 64-bit mask per pixel for up to 64 channels), which is all the weight gradient needs: the layer does not keep x
/// for the backward pass (32x less memory than the float input). The sums run in another order than oneDNN's:
/// results agree with `torch.nn.functional.conv2d` to float32 rounding, and do not depend on the number of threads.
namespace Snn

#nowarn "9"

open System
open System.Buffers
open System.Numerics
open System.Runtime.Intrinsics
open System.Threading
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Tensors

/// The active channels of every pixel of a binary input [N; C; H; W], as bit masks on a grid with a zero border
/// of `Padding` pixels: pixel (i, j) of image n is at grid position (i + Padding, j + Padding), and its
/// `Words` = ⌈C/64⌉ words hold channel c in bit c % 64 of word c / 64. The mask array is rented from the shared
/// pool (so it may be longer than needed) and goes back when the masks are disposed.
[<Sealed; AllowNullLiteral>]
type SpikeMasks internal (images: int, channels: int, height: int, width: int, padding: int, masks: uint64[], entries: int64) =
    [<DefaultValue>] val mutable private returned: int

    /// Images N.
    member _.Images = images
    /// Channels C.
    member _.Channels = channels
    /// Height H of the input.
    member _.Height = height
    /// Width W of the input.
    member _.Width = width
    /// Zero border of the grid, in pixels.
    member _.Padding = padding
    /// Mask words per pixel, ⌈C/64⌉.
    member _.Words = (channels + 63) / 64
    /// Rows of an image's grid, H + 2·Padding.
    member _.GridHeight = height + 2 * padding
    /// Columns of an image's grid, W + 2·Padding.
    member _.GridWidth = width + 2 * padding
    /// The masks, [N; GridHeight; GridWidth; Words] in that order.
    member _.Masks = masks
    /// Number of active inputs (spikes).
    member _.Entries = entries
    /// Fraction of active inputs, entries / (N·C·H·W).
    member _.Activity =
        let total = float images * float channels * float height * float width
        if total = 0.0 then 0.0 else float entries / total
    /// Whether the masks went back to the pool (they must not be read any more).
    member s.Disposed = Volatile.Read &s.returned = 1

    interface IDisposable with
        /// Returns the mask array to the pool, once.
        member s.Dispose () = if Interlocked.Exchange (&s.returned, 1) = 0 then ArrayPool<uint64>.Shared.Return masks

/// Raw loops of the sparse convolution.
module internal SparseConvKernel =

    type private V = Vector<float32>
    type private W = Vector512<float32>

    let inline private pointer (t: Tensor) : nativeptr<float32> = NativePtr.ofNativeInt (Raw.address t)

    /// Output columns per register pass of the AVX-512 loops: four 16-float registers.
    let private group = 64

    /// Whether the AVX-512 loops take O output channels (else the portable loops, any width).
    let private registers (outputs: int) = Vector512.IsHardwareAccelerated && outputs % group = 0

    /// Sets the mask words of image n's pixels; returns its number of spikes, or -1 when a value is neither 0 nor 1
    /// (NaN included). The image's part of the grid must be zero on entry.
    ///
    /// With AVX-512, 8 pixels of a row are done at once and without branches: for each channel of a mask word, the
    /// lanes of the 8 values that are not 0 are widened to 64 bits and contribute the channel's bit, so the 8 words
    /// are built in one register and stored once. On W2's second-layer input ([128; 64; 24; 24], 5-10 % active)
    /// this takes 0.73-0.75 ms, against 2.5-2.7 ms with a branch per spike. Pixels left over at the end of a row
    /// take the scalar loop.
    let private maskImage (x: nativeptr<float32>) (masks: nativeptr<uint64>) (channels: int) (h: int) (w: int) (padding: int) (n: int) : int64 =
        let words = (channels + 63) / 64
        let gridWidth = w + 2 * padding
        let gridCells = (h + 2 * padding) * gridWidth * words
        let image = NativePtr.add masks (n * gridCells)
        let planeSize = h * w
        let planes = NativePtr.add x (n * channels * planeSize)
        let one = Vector256.Create 1.0f
        let mutable notBinary = Vector256<float32>.Zero
        let mutable binary = true
        let vectorised = if X86.Avx512F.IsSupported then w / 8 * 8 else 0
        for i in 0 .. h - 1 do
            let target = NativePtr.add image (((i + padding) * gridWidth + padding) * words)
            let mutable j = 0
            while j < vectorised do
                for word in 0 .. words - 1 do
                    let mutable bits = Vector512<uint64>.Zero
                    for c in word * 64 .. min channels (word * 64 + 64) - 1 do
                        let v = Vector256.Load (NativePtr.add planes (c * planeSize + i * w + j))
                        let zero = Vector256.Equals (v, Vector256<float32>.Zero)
                        notBinary <- notBinary ||| Vector256.OnesComplement (zero ||| Vector256.Equals (v, one))
                        let active = X86.Avx512F.ConvertToVector512Int64 (Vector256.AsInt32 (Vector256.OnesComplement zero))
                        bits <- bits ||| (Vector512.AsUInt64 active &&& Vector512.Create (1UL <<< (c - word * 64)))
                    if words = 1 then Vector512.Store (bits, NativePtr.add target j)
                    else for lane in 0 .. 7 do NativePtr.set target ((j + lane) * words + word) (bits.GetElement lane)
                j <- j + 8
            for k in vectorised .. w - 1 do
                for c in 0 .. channels - 1 do
                    let v = NativePtr.get planes (c * planeSize + i * w + k)
                    if v <> 0.0f then
                        if v <> 1.0f then binary <- false
                        let at = NativePtr.add target (k * words + c / 64)
                        NativePtr.write at (NativePtr.read at ||| (1UL <<< (c % 64)))
        if not binary || Vector256.ExtractMostSignificantBits notBinary <> 0u then -1L
        else
            let mutable count = 0L
            for q in 0 .. gridCells - 1 do count <- count + int64 (BitOperations.PopCount (NativePtr.get image q))
            count

    /// The masks of a contiguous float32 x [N; C; H; W] on a grid with a zero border of `padding` pixels, when x is
    /// binary and at most `maxActivity` of it is 1; else None.
    let masksWithin (maxActivity: float) (padding: int) (x: Tensor) : SpikeMasks option =
        let n, channels, h, w = int x.shape.[0], int x.shape.[1], int x.shape.[2], int x.shape.[3]
        let words = (channels + 63) / 64
        let perImage = (h + 2 * padding) * (w + 2 * padding) * words
        let masks = ArrayPool<uint64>.Shared.Rent (max 1 (n * perImage))
        let counts = Array.zeroCreate<int64> n
        let xp = pointer x
        Workers.forEach n (fun image ->
            use mp = fixed masks
            Span<uint64>(masks, image * perImage, perImage).Clear ()
            counts.[image] <- maskImage xp mp channels h w padding image)
        GC.KeepAlive x
        let total = Array.sum counts
        let cells = float n * float channels * float h * float w
        if Array.contains -1L counts || (cells > 0.0 && float total / cells > maxActivity) then
            ArrayPool<uint64>.Shared.Return masks
            None
        else Some (new SpikeMasks (n, channels, h, w, padding, masks, total))

    /// target[k] = source[k · stride] for k < count: 8 values per AVX2 gather where the CPU has it. The layout
    /// changes between the kernels' pixel-major tiles and libtorch's channel planes are made of these; element by
    /// element they cost more than the sparse sums themselves (W2's first layer, 19 M outputs: forward 22 ms with
    /// element copies, 10 ms with gathers).
    let private gatherStrided (source: nativeptr<float32>) (stride: int) (count: int) (target: nativeptr<float32>) =
        let mutable k = 0
        if X86.Avx2.IsSupported && count >= 8 then
            let offsets = Vector256.Create (0, 1, 2, 3, 4, 5, 6, 7) * Vector256.Create stride
            while k + 8 <= count do
                Vector256.Store (X86.Avx2.GatherVector256 (NativePtr.add source (k * stride), offsets, 4uy), NativePtr.add target k)
                k <- k + 8
        for k in k .. count - 1 do NativePtr.set target k (NativePtr.get source (k * stride))

    /// Writes a pixel-major tile [pixels; O] into channel planes (plane o at o·planeSize, the tile's first pixel at
    /// offset 0 of each).
    let private tileToPlanes (tile: nativeptr<float32>) (outputs: int) (planes: nativeptr<float32>) (planeSize: int) (pixels: int) =
        for o in 0 .. outputs - 1 do gatherStrided (NativePtr.add tile o) outputs pixels (NativePtr.add planes (o * planeSize))

    /// Output row i of image n into `tile` [OW; O] (pixel-major, in L1), then into the channel planes of y.
    ///
    /// Kernel position by kernel position: the position's weights [C; O] (16 KB for 64 × 64 channels) stay in L1
    /// while every pixel of the row adds the rows of its active channels. Summing each pixel's whole window in
    /// registers instead read the weights of all positions (147 KB) from L2 for every spike (W2's second layer at
    /// 10 % activity: 12.6 ms that way, 10.0 ms in this order). Each output's sum runs in the same order either way:
    /// the bias, then the kernel positions row-major, channels ascending. `wp` holds the weights as [kh; kw; C; O].
    let private forwardRow (m: SpikeMasks) (masks: nativeptr<uint64>) (wp: nativeptr<float32>) (bias: nativeptr<float32>) (hasBias: bool)
                           (tile: nativeptr<float32>) (y: nativeptr<float32>) (outputs: int) (kh: int) (kw: int) (n: int) (i: int) =
        let words, gridWidth, channels = m.Words, m.GridWidth, m.Channels
        let oh, ow = m.GridHeight - kh + 1, m.GridWidth - kw + 1
        for j in 0 .. ow - 1 do
            let start = Span<float32> (NativePtr.toVoidPtr (NativePtr.add tile (j * outputs)), outputs)
            if hasBias then ReadOnlySpan<float32>(NativePtr.toVoidPtr bias, outputs).CopyTo start else start.Clear ()
        let fast = registers outputs
        let full = outputs / V.Count * V.Count
        for ky in 0 .. kh - 1 do
            for kx in 0 .. kw - 1 do
                let position = NativePtr.add wp ((ky * kw + kx) * channels * outputs)
                let windows = NativePtr.add masks (((n * m.GridHeight + i + ky) * gridWidth + kx) * words)
                for j in 0 .. ow - 1 do
                    let pixel = NativePtr.add windows (j * words)
                    let t = NativePtr.add tile (j * outputs)
                    for word in 0 .. words - 1 do
                        let mutable bits = NativePtr.get pixel word
                        if bits <> 0UL then
                            let first = NativePtr.add position (word * 64 * outputs)
                            if fast then
                                let mutable g = 0
                                while g < outputs do
                                    let tg = NativePtr.add t g
                                    let mutable a0 = Vector512.Load tg
                                    let mutable a1 = Vector512.Load (NativePtr.add tg 16)
                                    let mutable a2 = Vector512.Load (NativePtr.add tg 32)
                                    let mutable a3 = Vector512.Load (NativePtr.add tg 48)
                                    let mutable rest = bits
                                    while rest <> 0UL do
                                        let p = NativePtr.add first (BitOperations.TrailingZeroCount rest * outputs + g)
                                        a0 <- a0 + Vector512.Load p
                                        a1 <- a1 + Vector512.Load (NativePtr.add p 16)
                                        a2 <- a2 + Vector512.Load (NativePtr.add p 32)
                                        a3 <- a3 + Vector512.Load (NativePtr.add p 48)
                                        rest <- rest &&& (rest - 1UL)
                                    Vector512.Store (a0, tg)
                                    Vector512.Store (a1, NativePtr.add tg 16)
                                    Vector512.Store (a2, NativePtr.add tg 32)
                                    Vector512.Store (a3, NativePtr.add tg 48)
                                    g <- g + group
                            else
                                while bits <> 0UL do
                                    let p = NativePtr.add first (BitOperations.TrailingZeroCount bits * outputs)
                                    let mutable o = 0
                                    while o < full do
                                        Vector.Store (Vector.Load (NativePtr.add t o) + Vector.Load (NativePtr.add p o), NativePtr.add t o)
                                        o <- o + V.Count
                                    for o in full .. outputs - 1 do NativePtr.set t o (NativePtr.get t o + NativePtr.get p o)
                                    bits <- bits &&& (bits - 1UL)
        tileToPlanes tile outputs (NativePtr.add y ((n * outputs * oh + i) * ow)) (oh * ow) ow

    /// y [N; O; OH; OW] (contiguous) from the masks, the packed weights [kh; kw; C; O] and the bias [O] (or null);
    /// one work item per output row of every image.
    let forward (m: SpikeMasks) (packed: Tensor) (bias: Tensor) (y: Tensor) (kh: int) (kw: int) =
        let outputs, rows, columns = int y.shape.[1], int y.shape.[2], int y.shape.[3]
        let wp = pointer packed
        let hasBias = not (isNull (box bias))
        let bp = if hasBias then pointer bias else wp
        let yp = pointer y
        let masks = m.Masks
        let rowsPerItem = max 1 ((rows + 3) / 4)
        let itemsPerImage = (rows + rowsPerItem - 1) / rowsPerItem
        Workers.forEach (m.Images * itemsPerImage) (fun item ->
            let n, part = item / itemsPerImage, item % itemsPerImage
            // Not cleared: every value is written before it is read.
            let tile = ArrayPool<float32>.Shared.Rent (columns * outputs)
            try
                use tp = fixed tile
                use mp = fixed masks
                for i in part * rowsPerItem .. min rows (part * rowsPerItem + rowsPerItem) - 1 do
                    forwardRow m mp wp bp hasBias tp yp outputs kh kw n i
            finally ArrayPool<float32>.Shared.Return tile)
        GC.KeepAlive packed
        GC.KeepAlive bias
        GC.KeepAlive y

    /// Adds image n's part of ∂L/∂W to `partial` [C; kh; kw; O]. The output gradient of the image is first written
    /// pixel-major into `padded`, a grid of (GridHeight + kh - 1) × (GridWidth + kw - 1) O-wide rows whose border
    /// stays 0, so every kernel position of every active input reads a row without a bounds check (outputs
    /// outside the image read the border). The active inputs are listed per channel (`entries`, as grid offsets,
    /// ascending), and for each band of grid rows each (channel, kernel position) sums its rows in registers before
    /// one update of `partial`. `ends` and `next` are the work item's scratch (C values each), `entries` C times the
    /// grid's cells.
    let private weightGradImage (m: SpikeMasks) (masks: nativeptr<uint64>) (gy: nativeptr<float32>) (padded: nativeptr<float32>)
                                (ends: int[]) (next: int[]) (entries: int[]) (partial: nativeptr<float32>) (outputs: int) (kh: int) (kw: int) (n: int) =
        let words, gridHeight, gridWidth = m.Words, m.GridHeight, m.GridWidth
        let oh, ow = gridHeight - kh + 1, gridWidth - kw + 1
        let paddedWidth = gridWidth + kw - 1
        let channels = m.Channels
        // The image's output gradient, pixel-major, at (i + kh - 1, j + kw - 1) of the padded grid.
        let planes = NativePtr.add gy (n * outputs * oh * ow)
        for i in 0 .. oh - 1 do
            for j in 0 .. ow - 1 do
                gatherStrided (NativePtr.add planes (i * ow + j)) (oh * ow) outputs (NativePtr.add padded (((i + kh - 1) * paddedWidth + j + kw - 1) * outputs))
        // The active inputs per channel, in one pass over the image's grid: channel c's grid offsets go, ascending,
        // to its own bucket entries[c·cells ..]. A counting sort's extra pass over the masks doubled this part (conv2
        // of W2: 3.9 against 1.8-2.0 ms of CPU time per step, bench/RESULTS.md round 12).
        let image = NativePtr.add masks (n * gridHeight * gridWidth * words)
        let cells = gridHeight * gridWidth
        for c in 0 .. channels - 1 do next.[c] <- c * cells
        for q in 0 .. cells - 1 do
            let gridRow, gridColumn = q / gridWidth, q % gridWidth
            for word in 0 .. words - 1 do
                let mutable bits = NativePtr.get image (q * words + word)
                while bits <> 0UL do
                    let c = word * 64 + BitOperations.TrailingZeroCount bits
                    entries.[next.[c]] <- gridRow * paddedWidth + gridColumn
                    next.[c] <- next.[c] + 1
                    bits <- bits &&& (bits - 1UL)
        // ends.[c]: the end of channel c's bucket; next.[c] walks it band by band.
        Array.blit next 0 ends 0 channels
        for c in 0 .. channels - 1 do next.[c] <- c * cells
        let fast = registers outputs
        let full = outputs / V.Count * V.Count
        // Bands of 8 grid rows: a band's inputs read band + kh - 1 rows of the padded gradient (66 KB for W2's second
        // layer, L1 holds 48 KB) over all its channels and kernel positions, and each (channel, position) adds its sum
        // to `partial` (147 KB, in L2) once per band. Narrower bands kept those rows in L1 but updated `partial` more
        // often: bands of 2 rows took 9.1-9.4 ms for that layer's weight gradient at 10 % activity, bands of 8
        // 7.5-7.9 ms, and W2's third layer 3.2-3.3 against 2.3-2.4 ms (fsi, alternating; bench/RESULTS.md round 14).
        // Bands of 13 rows or the whole image were no faster; summing each channel over the whole image reads the
        // 200 KB padded image from L2 for every input.
        let band = 8
        for firstRow in 0 .. band .. gridHeight - 1 do
            let bandEnd = (firstRow + band) * paddedWidth
            for c in 0 .. channels - 1 do
                let e0 = next.[c]
                let mutable e1 = e0
                while e1 < ends.[c] && entries.[e1] < bandEnd do e1 <- e1 + 1
                next.[c] <- e1
                if e1 > e0 then
                    for ky in 0 .. kh - 1 do
                        for kx in 0 .. kw - 1 do
                            // Input at grid (r, s) meets the output at (r - ky, s - kx), stored at (r - ky + kh - 1, s - kx + kw - 1).
                            let shift = (kh - 1 - ky) * paddedWidth + (kw - 1 - kx)
                            let target = NativePtr.add partial (((c * kh + ky) * kw + kx) * outputs)
                            if fast then
                                let mutable g = 0
                                while g < outputs do
                                    let mutable a0, a1, a2, a3 = W.Zero, W.Zero, W.Zero, W.Zero
                                    for e in e0 .. e1 - 1 do
                                        let p = NativePtr.add padded ((entries.[e] + shift) * outputs + g)
                                        a0 <- a0 + Vector512.Load p
                                        a1 <- a1 + Vector512.Load (NativePtr.add p 16)
                                        a2 <- a2 + Vector512.Load (NativePtr.add p 32)
                                        a3 <- a3 + Vector512.Load (NativePtr.add p 48)
                                    let t = NativePtr.add target g
                                    Vector512.Store (Vector512.Load t + a0, t)
                                    Vector512.Store (Vector512.Load (NativePtr.add t 16) + a1, NativePtr.add t 16)
                                    Vector512.Store (Vector512.Load (NativePtr.add t 32) + a2, NativePtr.add t 32)
                                    Vector512.Store (Vector512.Load (NativePtr.add t 48) + a3, NativePtr.add t 48)
                                    g <- g + group
                            else
                                for e in e0 .. e1 - 1 do
                                    let p = NativePtr.add padded ((entries.[e] + shift) * outputs)
                                    let mutable o = 0
                                    while o < full do
                                        Vector.Store (Vector.Load (NativePtr.add target o) + Vector.Load (NativePtr.add p o), NativePtr.add target o)
                                        o <- o + V.Count
                                    for o in full .. outputs - 1 do NativePtr.set target o (NativePtr.get target o + NativePtr.get p o)

    /// ∂L/∂W as [C·kh·kw; O] (the packed layout; the caller transposes it to [O; C; kh; kw]) from the masks and
    /// ∂L/∂y [N; O; OH; OW] (contiguous), summed over fixed groups of images (`Workers.sumOverImageGroups`).
    let weightGrad (m: SpikeMasks) (gy: Tensor) (result: Tensor) (kh: int) (kw: int) =
        let outputs = int gy.shape.[1]
        let paddedSize = (m.GridHeight + kh - 1) * (m.GridWidth + kw - 1) * outputs
        let gp = pointer gy
        let masks = m.Masks
        Workers.sumOverImageGroups m.Images (m.Channels * kh * kw * outputs) (pointer result) (fun partial n0 n1 ->
            // 16 values more, so that the grid can start a cache line and its pixel rows (O values) are whole lines:
            // conv2's weight gradient 14.6-17.4 → 12.1-13.0 ms at 12 % activity (fsi, W2's shapes, two threads).
            use padded = Scratch.rent (paddedSize + 16) 0.0f
            let ends = ArrayPool<int>.Shared.Rent m.Channels
            let next = ArrayPool<int>.Shared.Rent m.Channels
            let entries = ArrayPool<int>.Shared.Rent (max 1 (m.Channels * m.GridHeight * m.GridWidth))
            try
                use pp = fixed padded.Values
                use mp = fixed masks
                let aligned = Scratch.alignedToCacheLine pp
                for n in n0 .. n1 - 1 do
                    weightGradImage m mp gp aligned ends next entries partial outputs kh kw n
            finally
                ArrayPool<int>.Shared.Return ends
                ArrayPool<int>.Shared.Return next
                ArrayPool<int>.Shared.Return entries)
        GC.KeepAlive gy
        GC.KeepAlive result

/// The sparse convolution as an autograd function: apply (x [N; C; H; W] float32 binary, W [O; C; kh; kw], b [O]
/// or null, the SpikeMasks of x, padding, whether x needs a gradient, whether the function owns the masks, whether
/// ∂L/∂x is computed in bfloat16) → y [N; O; OH; OW]. It keeps the masks instead of x; owned masks are disposed by
/// a backward pass that frees the graph, and a retained graph keeps them for the next pass.
type SparseBinaryConv2dFunction() =
    inherit torch.autograd.SingleTensorFunction<SparseBinaryConv2dFunction>()

    /// The autograd node's name.
    override _.Name = "SnnSparseBinaryConv2d"

    /// y = b + Σ over each window's active inputs of W's rows.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let weight = (vars.[1] :?> Tensor).detach ()
        let bias = vars.[2] :?> Tensor
        let masks = vars.[3] :?> SpikeMasks
        let padding = vars.[4] :?> int
        let outputs, kh, kw = weight.shape.[0], int weight.shape.[2], int weight.shape.[3]
        use packed = weight.permute(2L, 3L, 1L, 0L).contiguous ()
        let y = torch.empty ([| int64 masks.Images; outputs; int64 (masks.GridHeight - kh + 1); int64 (masks.GridWidth - kw + 1) |], dtype = torch.float32)
        // TorchSharp reads y when apply returns; libtorch keeps it as the output.
        FunctionHandles.releaseLater [ y ]
        use biasValues = if isNull (box bias) then null else bias.detach().contiguous ()
        SparseConvKernel.forward masks packed biasValues y kh kw
        ctx.save_for_backward (Collections.Generic.List [ weight ])
        FunctionHandles.shrinkOutputCache ctx
        ctx.save_data ("masks", box masks)
        ctx.save_data ("padding", box padding)
        ctx.save_data ("inputGrad", vars.[5])
        ctx.save_data ("ownsMasks", vars.[6])
        ctx.save_data ("bias", box (not (isNull (box bias))))
        ctx.save_data ("bf16InputGradient", vars.[7])
        y

    /// ∂L/∂W touches only the active inputs; ∂L/∂x is libtorch's transposed convolution (in bfloat16 if asked) when
    /// x needs it.
    override _.backward (ctx: torch.autograd.AutogradContext, gradY: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnSparseBinaryConv2d" 8 (fun () ->
            FunctionHandles.release ()
            use gradY = gradY
            use weight = ctx.get_saved_variables().[0]
            let masks = ctx.get_data "masks" :?> SpikeMasks
            let padding = ctx.get_data "padding" :?> int
            if masks.Disposed then invalidOp "the input masks were already released by a backward pass that freed the graph"
            let outputs, kh, kw = weight.shape.[0], int weight.shape.[2], int weight.shape.[3]
            use g = gradY.contiguous ()
            use packedGrad = torch.empty ([| int64 (masks.Channels * kh * kw); outputs |], dtype = torch.float32)
            SparseConvKernel.weightGrad masks g packedGrad kh kw
            use byOutput = packedGrad.t ()
            use shaped = byOutput.reshape (outputs, int64 masks.Channels, int64 kh, int64 kw)
            let gradW = shaped.contiguous ()
            let gradX =
                if not (ctx.get_data "inputGrad" :?> bool) then null
                else
                    let transposed (gradient: Tensor) (w: Tensor) =
                        torch.nn.functional.conv_transpose2d (gradient, w, padding = [| int64 padding; int64 padding |])
                    if ctx.get_data "bf16InputGradient" :?> bool then inBfloat16 transposed g weight else transposed g weight
            let gradB = if ctx.get_data "bias" :?> bool then g.sum ([| 0L; 2L; 3L |]) else null
            if (ctx.get_data "ownsMasks" :?> bool) && FunctionHandles.freesGraph () then (masks :> IDisposable).Dispose ()
            FunctionHandles.releaseLater [ gradX; gradW; gradB ]
            // One gradient per argument of apply: the masks, the padding and the flags get none.
            Collections.Generic.List [ gradX; gradW; gradB; null; null; null; null; null ])

/// Running the sparse convolution.
[<RequireQualifiedAccess>]
module SparseConv2d =

    /// Whether the sparse kernel can run this convolution: float32 x [N; C; H; W] on the CPU, stride 1, padding at
    /// most kernel - 1 (the grid arithmetic relies on it) and sizes that index with 32-bit integers.
    let supports (x: Tensor) (kernel: int) (stride: int) (padding: int) =
        x.dim () = 4L && x.shape.[0] > 0L && x.dtype = torch.float32 && x.device_type = DeviceType.CPU && stride = 1
        && padding >= 0 && padding <= kernel - 1 && x.numel () <= int64 Int32.MaxValue
        && x.shape.[0] * (x.shape.[2] + 2L * int64 padding) * (x.shape.[3] + 2L * int64 padding) * ((x.shape.[1] + 63L) / 64L) <= int64 Int32.MaxValue

    /// The masks of x [N; C; H; W] (float32, CPU) for a convolution with this padding, when x is binary and at most
    /// `maxActivity` of it is 1; else None. Dispose them when done (their array goes back to a pool).
    let masksWithin (maxActivity: float) (padding: int) (x: Tensor) : SpikeMasks option =
        if isNull (box x) then nullArg "x"
        if x.dim () <> 4L then invalidArg "x" $"must be [N; C; H; W], got shape %A{x.shape}"
        if padding < 0 then invalidArg "padding" $"must be >= 0, got {padding}"
        if x.dtype <> torch.float32 || x.device_type <> DeviceType.CPU then None
        else
            use c = x.detach().contiguous ()
            SparseConvKernel.masksWithin maxActivity padding c

    /// conv2d (x, W, b, stride 1, padding) for binary x [N; C; H; W] given its masks (from `masksWithin` with the same
    /// padding); W [O; C; kh; kw] and b [O] (or null) float32 with padding ≤ kh - 1 and ≤ kw - 1. Differentiable in
    /// W, b and (densely) x, whose gradient is computed in bfloat16 when `bf16InputGradient`
    /// (`SpikeLinearOptions.Bf16InputGradient`). The function takes over the masks: they are disposed at once when
    /// the result needs no gradient, else by the backward pass that frees the graph.
    let apply (x: Tensor) (masks: SpikeMasks) (weight: Tensor) (bias: Tensor) (bf16InputGradient: bool) : Tensor =
        if isNull (box masks) then nullArg "masks"
        if masks.Disposed then invalidArg "masks" "were disposed"
        if isNull (box weight) || weight.dim () <> 4L || weight.shape.[1] <> int64 masks.Channels then
            invalidArg "weight" $"must be [O; {masks.Channels}; kh; kw], got shape %A{(if isNull (box weight) then [||] else weight.shape)}"
        if weight.dtype <> torch.float32 then invalidArg "weight" $"must be float32, got {weight.dtype}"
        let kh, kw = int weight.shape.[2], int weight.shape.[3]
        if masks.Padding > kh - 1 || masks.Padding > kw - 1 then
            invalidArg "masks" $"were made for padding {masks.Padding}, more than the kernel {kh} x {kw} allows (kernel - 1)"
        if masks.Height + 2 * masks.Padding < kh || masks.Width + 2 * masks.Padding < kw then
            invalidArg "weight" $"kernel {kh} x {kw} is larger than the padded input {masks.GridHeight} x {masks.GridWidth}"
        if not (isNull (box bias)) && (bias.dim () <> 1L || bias.shape.[0] <> weight.shape.[0]) then
            invalidArg "bias" $"must be [{weight.shape.[0]}], got shape %A{bias.shape}"
        if x.shape <> [| int64 masks.Images; int64 masks.Channels; int64 masks.Height; int64 masks.Width |] then
            invalidArg "masks" $"describe [{masks.Images}; {masks.Channels}; {masks.Height}; {masks.Width}], x has shape %A{x.shape}"
        let y = SparseBinaryConv2dFunction.apply (x, weight, bias, box masks, box masks.Padding, box x.requires_grad, box true, box bf16InputGradient)
        FunctionHandles.release ()
        if not y.requires_grad then (masks :> IDisposable).Dispose ()
        y
