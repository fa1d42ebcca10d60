/// The weight gradient of a 2-D convolution with few inputs per output window (C·k² ≤ 72, e.g. the 2-channel event
/// frames that enter a DVS network) straight from libtorch's [N; C; H; W] layout; the forward pass and the input
/// gradient stay libtorch's.
///
/// For x [N; C; H; W], W [O; C; k; k], bias b [O], stride 1 and zero padding p, with output positions q = (y, x) of an
/// Ho × Wo plane (Ho = H + 2p - k + 1) and window rows r = (c, ky, kx):
///
///     X_n[r, q] = x[n, c, y + ky - p, x + kx - p]   (0 outside the image: one image's im2col tile, R × Ho·Wo)
///     ∂L/∂W[o, r] = Σ_n Σ_q ∂L/∂y[n, o, q] X_n[r, q],   ∂L/∂b_o = Σ_n Σ_q ∂L/∂y[n, o, q]   (b: the weight of a row of 1s)
///     y = conv2d(x, W, b),   ∂L/∂x = conv_transpose2d(∂L/∂y, W, padding p)                   (libtorch's)
///
/// Why: for such a layer oneDNN computes the weight gradient in its blocked layout, after reordering the whole output
/// gradient from libtorch's planes (W2's first layer, [128; 2; 48; 48] → 64: 5.8 ms of gradient and 7.0 ms of
/// reorder). Here one image's tile (R rows of Ho·Wo values, in L2) is built from the input, and the kernel holds 4
/// channels × 3 rows of sums in registers while it runs through the positions. A direct forward pass was tried as
/// well and was slower than libtorch's from 18 inputs per window on (bench `direct-conv-threshold`, round 10).
/// Every sum has a fixed order (fixed groups of images, added in group order), so the results do not depend on the
/// thread count; they agree with libtorch's to float32 rounding.
namespace Snn

#nowarn "9"

open System
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Tensors

/// Raw loops of the direct convolution (AVX-512).
module internal DirectConvKernel =

    type private W = Vector512<float32>

    let inline private pointer (t: Tensor) : nativeptr<float32> = NativePtr.ofNativeInt (Raw.address t)

    /// The geometry of one call.
    [<Struct>]
    type Geometry =
        { Images: int; Channels: int; Height: int; Width: int; Outputs: int; Kernel: int; Padding: int }
        member g.OutHeight = g.Height + 2 * g.Padding - g.Kernel + 1
        member g.OutWidth = g.Width + 2 * g.Padding - g.Kernel + 1
        /// Output positions per plane, Ho·Wo.
        member g.Positions = g.OutHeight * g.OutWidth
        /// Window rows C·k².
        member g.Rows = g.Channels * g.Kernel * g.Kernel
        /// The length of a tile row: the positions rounded up to whole vectors (zeros past the last position).
        member g.RowLength = (g.Positions + 15) / 16 * 16

    /// `length` float32 values at `at` cleared.
    let inline private clear (at: nativeptr<float32>) (length: int) = Span<float32>(NativePtr.toVoidPtr at, length).Clear ()

    /// Writes image n's tile X_n to `tile`: `rows` rows of `RowLength` values, zero past the last position. Rows
    /// r < C·k² are the window rows; row C·k² holds 1 at every position (the constant input whose weight is the
    /// bias); rows after it are zero.
    let private columns (g: Geometry) (xp: nativeptr<float32>) (n: int) (rows: int) (tile: nativeptr<float32>) =
        let k, p, ho, wo = g.Kernel, g.Padding, g.OutHeight, g.OutWidth
        for r in 0 .. rows - 1 do
            let row = NativePtr.add tile (r * g.RowLength)
            if r = g.Rows then
                Span<float32>(NativePtr.toVoidPtr row, g.Positions).Fill 1.0f
                clear (NativePtr.add row g.Positions) (g.RowLength - g.Positions)
            elif r > g.Rows then clear row g.RowLength
            else
                let c, ky, kx = r / (k * k), r / k % k, r % k
                // Positions x with 0 <= x + kx - p < W.
                let x0, x1 = max 0 (p - kx), min wo (g.Width + p - kx)
                for y in 0 .. ho - 1 do
                    let target = NativePtr.add row (y * wo)
                    let sy = y + ky - p
                    if sy < 0 || sy >= g.Height || x1 <= x0 then clear target wo
                    else
                        let source = NativePtr.add xp (((n * g.Channels + c) * g.Height + sy) * g.Width + x0 + kx - p)
                        clear target x0
                        Span<float32>(NativePtr.toVoidPtr source, x1 - x0).CopyTo (Span<float32>(NativePtr.toVoidPtr (NativePtr.add target x0), x1 - x0))
                        clear (NativePtr.add target x1) (wo - x1)
                clear (NativePtr.add row g.Positions) (g.RowLength - g.Positions)

    /// ∂L/∂W and ∂L/∂b from x and ∂L/∂y [N; O; Ho; Wo] (contiguous) into `sums` [O; C·k² + 1]: per channel o the
    /// window rows' sums, then the bias's (the weight of the tile's row of ones), summed over fixed groups of images
    /// (`Workers.sumOverImageGroups`).
    let weightGrad (g: Geometry) (x: Tensor) (gy: Tensor) (sums: nativeptr<float32>) =
        let xp, gp = pointer x, pointer gy
        let rows, plane = g.Rows + 1, g.Positions
        // Rows in whole groups of 3 (zero rows after the row of ones).
        let tileRows = (rows + 2) / 3 * 3
        Workers.sumOverImageGroups g.Images (g.Outputs * rows) sums (fun partial n0 n1 ->
            use tileLease = Scratch.rent (tileRows * g.RowLength) 0.0f
            // The output gradient of one image with its planes padded to whole vectors (only when they are not).
            use paddedLease = Scratch.rent (if plane % 16 = 0 then 0 else g.Outputs * g.RowLength) 0.0f
            use tile = fixed tileLease.Values
            use padded = fixed paddedLease.Values
            // Adds a register of sums to slot r of channel o; the zero rows past the row of ones have no slot.
            let add (o: int) (r: int) (s: W) =
                if r < rows then
                    let at = NativePtr.add partial (o * rows + r)
                    NativePtr.write at (NativePtr.read at + Vector512.Sum s)
            let full = g.Outputs / 4 * 4
            let vectors = g.RowLength / 16
            for n in n0 .. n1 - 1 do
                columns g xp n tileRows tile
                let gradient, stride =
                    if plane % 16 = 0 then NativePtr.add gp (n * g.Outputs * plane), plane
                    else
                        for o in 0 .. g.Outputs - 1 do
                            let source = Span<float32> (NativePtr.toVoidPtr (NativePtr.add gp ((n * g.Outputs + o) * plane)), plane)
                            source.CopyTo (Span<float32> (NativePtr.toVoidPtr (NativePtr.add padded (o * g.RowLength)), plane))
                        padded, g.RowLength
                for o0 in 0 .. 4 .. full - 1 do
                    let g0, g1 = NativePtr.add gradient (o0 * stride), NativePtr.add gradient ((o0 + 1) * stride)
                    let g2, g3 = NativePtr.add gradient ((o0 + 2) * stride), NativePtr.add gradient ((o0 + 3) * stride)
                    for r0 in 0 .. 3 .. tileRows - 1 do
                        let x0, x1, x2 = NativePtr.add tile (r0 * g.RowLength), NativePtr.add tile ((r0 + 1) * g.RowLength), NativePtr.add tile ((r0 + 2) * g.RowLength)
                        let mutable s00, s01, s02, s10, s11, s12 = W.Zero, W.Zero, W.Zero, W.Zero, W.Zero, W.Zero
                        let mutable s20, s21, s22, s30, s31, s32 = W.Zero, W.Zero, W.Zero, W.Zero, W.Zero, W.Zero
                        for i in 0 .. vectors - 1 do
                            let q = i * 16
                            let d0, d1 = Vector512.Load (NativePtr.add g0 q), Vector512.Load (NativePtr.add g1 q)
                            let d2, d3 = Vector512.Load (NativePtr.add g2 q), Vector512.Load (NativePtr.add g3 q)
                            let v0, v1, v2 = Vector512.Load (NativePtr.add x0 q), Vector512.Load (NativePtr.add x1 q), Vector512.Load (NativePtr.add x2 q)
                            s00 <- Vector512.FusedMultiplyAdd (d0, v0, s00)
                            s01 <- Vector512.FusedMultiplyAdd (d0, v1, s01)
                            s02 <- Vector512.FusedMultiplyAdd (d0, v2, s02)
                            s10 <- Vector512.FusedMultiplyAdd (d1, v0, s10)
                            s11 <- Vector512.FusedMultiplyAdd (d1, v1, s11)
                            s12 <- Vector512.FusedMultiplyAdd (d1, v2, s12)
                            s20 <- Vector512.FusedMultiplyAdd (d2, v0, s20)
                            s21 <- Vector512.FusedMultiplyAdd (d2, v1, s21)
                            s22 <- Vector512.FusedMultiplyAdd (d2, v2, s22)
                            s30 <- Vector512.FusedMultiplyAdd (d3, v0, s30)
                            s31 <- Vector512.FusedMultiplyAdd (d3, v1, s31)
                            s32 <- Vector512.FusedMultiplyAdd (d3, v2, s32)
                        add o0 r0 s00
                        add o0 (r0 + 1) s01
                        add o0 (r0 + 2) s02
                        add (o0 + 1) r0 s10
                        add (o0 + 1) (r0 + 1) s11
                        add (o0 + 1) (r0 + 2) s12
                        add (o0 + 2) r0 s20
                        add (o0 + 2) (r0 + 1) s21
                        add (o0 + 2) (r0 + 2) s22
                        add (o0 + 3) r0 s30
                        add (o0 + 3) (r0 + 1) s31
                        add (o0 + 3) (r0 + 2) s32
                // The last O mod 4 channels one row at a time.
                for o in full .. g.Outputs - 1 do
                    let go = NativePtr.add gradient (o * stride)
                    for r in 0 .. rows - 1 do
                        let xs = NativePtr.add tile (r * g.RowLength)
                        let mutable s = W.Zero
                        for i in 0 .. vectors - 1 do
                            s <- Vector512.FusedMultiplyAdd (Vector512.Load (NativePtr.add go (i * 16)), Vector512.Load (NativePtr.add xs (i * 16)), s)
                        add o r s)
        GC.KeepAlive x
        GC.KeepAlive gy

/// The convolution with the direct weight gradient as an autograd function: apply (x [N; C; H; W] float32
/// contiguous, W [O; C; k; k], b [O] or null, padding, whether x needs a gradient) → y [N; O; Ho; Wo]. Keeps x for
/// the weight gradient (freed by a graph-freeing backward pass).
type DirectConv2dFunction() =
    inherit torch.autograd.SingleTensorFunction<DirectConv2dFunction>()

    /// The autograd node's name.
    override _.Name = "SnnDirectConv2d"

    /// libtorch's convolution (its forward pass is the faster one, see the file header).
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = (vars.[0] :?> Tensor).detach ()
        let weight = (vars.[1] :?> Tensor).detach ()
        let bias = vars.[2] :?> Tensor
        let padding = vars.[3] :?> int
        let geometry : DirectConvKernel.Geometry =
            { Images = int x.shape.[0]; Channels = int x.shape.[1]; Height = int x.shape.[2]; Width = int x.shape.[3]
              Outputs = int weight.shape.[0]; Kernel = int weight.shape.[2]; Padding = padding }
        use detachedBias = if isNull (box bias) then null else bias.detach ()
        let y = torch.nn.functional.conv2d (x, weight, detachedBias, padding = [| int64 padding; int64 padding |])
        // TorchSharp reads y when apply returns; libtorch keeps it as the output.
        FunctionHandles.releaseLater [ y ]
        ctx.save_data ("x", KeptForBackward x)
        ctx.save_for_backward (Collections.Generic.List [ weight ])
        FunctionHandles.shrinkOutputCache ctx
        ctx.save_data ("geometry", box geometry)
        ctx.save_data ("flags", box (not (isNull (box bias)), vars.[4] :?> bool))
        y

    /// ∂L/∂x (conv_transpose2d, when x needs it), ∂L/∂W, ∂L/∂b.
    override _.backward (ctx: torch.autograd.AutogradContext, gradY: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnDirectConv2d" 5 (fun () ->
            FunctionHandles.release ()
            use gradY = gradY
            let kept = ctx.get_data "x" :?> KeptForBackward
            let x = kept.Tensor
            use weight = ctx.get_saved_variables().[0]
            let geometry = ctx.get_data "geometry" :?> DirectConvKernel.Geometry
            let hasBias, inputGrad = ctx.get_data "flags" :?> bool * bool
            use g = gradY.contiguous ()
            // Per output channel: the window rows' sums, then the bias's.
            let rows = geometry.Rows
            let sums = Array.zeroCreate<float32> (geometry.Outputs * (rows + 1))
            (use sp = fixed sums
             DirectConvKernel.weightGrad geometry x g sp)
            kept.Release ()
            let gradW = torch.tensor(Array.init (geometry.Outputs * rows) (fun i -> sums.[i / rows * (rows + 1) + i % rows])).reshape (weight.shape)
            let gradB = if hasBias then torch.tensor (Array.init geometry.Outputs (fun o -> sums.[o * (rows + 1) + rows])) else null
            let gradX =
                if inputGrad then torch.nn.functional.conv_transpose2d (g, weight, padding = [| int64 geometry.Padding; int64 geometry.Padding |])
                else null
            FunctionHandles.releaseLater [ gradX; gradW; gradB ]
            Collections.Generic.List [ gradX; gradW; gradB; null; null ])

/// Running the direct convolution.
[<RequireQualifiedAccess>]
module DirectConv2d =

    /// The most inputs per window (C·k²) the direct weight gradient takes. Measured (bench `direct-conv-threshold`,
    /// [128; C; 48; 48] → 64, 3 × 3, forward + weight gradient against libtorch's, three runs): 9 inputs 1.10-1.24x,
    /// 18 0.95-1.14x, 27 1.01-1.03x, 36 1.38-1.47x, 54 1.21-1.27x, 72 1.09-1.20x; wider windows were not measured.
    let maximumWindow = 72

    /// The most values of one image's tile (C·k² rows of Ho·Wo positions): 16 MB per work item; larger planes go to
    /// libtorch.
    let private maximumTile = 4L <<< 20

    /// Whether the direct weight gradient runs x [N; C; H; W] into `outputs` channels with a square kernel: float32
    /// contiguous CPU input, AVX-512, stride 1, at most `maximumWindow` inputs per window, padding below the kernel
    /// size, and input, output and tile sizes the kernel's 32-bit offsets reach.
    let supports (x: Tensor) (outputs: int) (kernel: int) (stride: int) (padding: int) =
        let positions = (x.shape.[2] + 2L * int64 padding - int64 kernel + 1L) * (x.shape.[3] + 2L * int64 padding - int64 kernel + 1L)
        Avx512F.IsSupported && x.dim () = 4L && isCpuFloat32Contiguous x
        && stride = 1 && padding < kernel && int x.shape.[1] * kernel * kernel <= maximumWindow
        && positions > 0L && x.shape.[0] > 0L && x.numel () <= int64 Int32.MaxValue
        && x.shape.[0] * int64 outputs * positions <= int64 Int32.MaxValue
        && int64 (x.shape.[1] * int64 kernel * int64 kernel + 2L) * (positions + 15L) <= maximumTile

    /// conv2d (x, weight, bias, stride 1, padding) with the direct weight gradient (`supports` must hold).
    let apply (x: Tensor) (weight: Tensor) (bias: Tensor) (padding: int) : Tensor =
        let y = DirectConv2dFunction.apply (x, weight, bias, box padding, box x.requires_grad)
        FunctionHandles.release ()
        y
