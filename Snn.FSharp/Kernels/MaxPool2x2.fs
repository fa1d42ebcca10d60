/// Max pooling over 2 × 2 windows with stride 2 (`torch.nn.MaxPool2d(2)`, the pooling of every spiking VGG / DVS
/// network) as one pass over memory in each direction.
///
/// For x [..., H, W] and y [..., ⌊H/2⌋, ⌊W/2⌋], window (i, j) holds x[2i, 2j], x[2i, 2j+1], x[2i+1, 2j], x[2i+1, 2j+1]
/// in that order, and
///
///     y_ij = x at k_ij,   k_ij = the first position of the window's maximum (a NaN counts as the maximum)
///     ∂L/∂x at k_ij = ∂L/∂y_ij, 0 at the window's other three positions and outside every window
///
/// which is libtorch's rule, ties included: binary spikes tie all the time, and the gradient then goes to the first
/// spike of the window, as in PyTorch. The choice k is kept as one byte per output (libtorch keeps an int64 index),
/// and the backward pass writes every input element once instead of zero-filling and scattering. Measured on W2's
/// first pooling ([128; 64; 48; 48], 2 cores): see bench/RESULTS.md, "2 × 2 max pooling".
namespace Snn

#nowarn "9"

open System
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Tensors

/// Raw loops of the 2 × 2 max pooling, over planes of H × W floats.
module internal MaxPoolKernel =

    type private W = Vector512<float32>
    type private I = Vector512<int>

    let inline private pointer<'T when 'T: unmanaged> (t: Tensor) : nativeptr<'T> = NativePtr.ofNativeInt (Raw.address t)

    /// Lane indices that gather the even (0, 2, .., 30) and odd (1, 3, .., 31) floats of two vectors, and that
    /// interleave two vectors' lanes (a0 b0 a1 b1 ..) into their low and high halves. Constants built in place
    /// (the JIT loads them from the method's data): as static fields, every row of windows checked the module's
    /// initialisation, and the call on that path made the loop keep its vectors on the stack.
    let inline private evens () = Vector512.Create (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
    let inline private odds () = Vector512.Create (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
    let inline private interleaveLow () = Vector512.Create (0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
    let inline private interleaveHigh () = Vector512.Create (8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

    /// The scalar rule for one window: value and position of the first maximum (NaN wins).
    let inline private window (a: float32) (b: float32) (c: float32) (d: float32) : struct (float32 * byte) =
        let mutable m, k = a, 0uy
        if b > m || Single.IsNaN b then m <- b; k <- 1uy
        if c > m || Single.IsNaN c then m <- c; k <- 2uy
        if d > m || Single.IsNaN d then m <- d; k <- 3uy
        struct (m, k)

    /// The vector rule for the window position `position` with values v: it replaces the running maximum m (and
    /// its position k) where v is greater or (unless `spikes`: the values are 0 or 1, never NaN) NaN.
    let inline private later (spikes: bool) (position: int) (v: W) (struct (m: W, k: I)) : struct (W * I) =
        let replace = if spikes then Vector512.GreaterThan (v, m) else Vector512.GreaterThan (v, m) ||| Vector512.OnesComplement (Vector512.Equals (v, v))
        struct (Vector512.ConditionalSelect (replace, v, m), Vector512.ConditionalSelect (Vector512.AsInt32 replace, Vector512.Create position, k))

    /// Whether the vector paths run: AVX-512 with its byte and 128-bit forms (masked byte loads and stores).
    let inline private vectors () = Avx512BW.VL.IsSupported

    /// The 16 lane numbers, as int32 and as bytes.
    let inline private lanes () = Vector512.Create (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    let inline private byteLanes () = Vector128.Create (0uy, 1uy, 2uy, 3uy, 4uy, 5uy, 6uy, 7uy, 8uy, 9uy, 10uy, 11uy, 12uy, 13uy, 14uy, 15uy)

    /// The masks of the first n lanes (0 ≤ n ≤ 16) of float32 and of byte vectors.
    let inline private first (n: int) : W = Vector512.AsSingle (Vector512.LessThan (lanes (), Vector512.Create n))
    let inline private firstBytes (n: int) : Vector128<byte> = Vector128.LessThan (byteLanes (), Vector128.Create (byte n))

    /// Calls `row top bottom pooled choices` for every row of windows of planes [p0, p1): the window row's two rows
    /// of the H × W planes at `full` (rows `pitch` ≥ W values apart, planes H·pitch), and its row of the contiguous
    /// ⌊H/2⌋ × ⌊W/2⌋ planes at `pooled` and `choice`.
    let inline private forWindowRows (full: nativeptr<float32>) (pooled: nativeptr<float32>) (choice: nativeptr<byte>)
                                     (h: int) (w: int) (pitch: int) (p0: int) (p1: int) ([<InlineIfLambda>] row) =
        let ho, wo = h / 2, w / 2
        for p in p0 .. p1 - 1 do
            for i in 0 .. ho - 1 do
                let top = NativePtr.add full (p * h * pitch + 2 * i * pitch)
                let at = (p * ho + i) * wo
                row top (NativePtr.add top pitch) (NativePtr.add pooled at) (NativePtr.add choice at)

    /// Covers the `wo` windows of a row: `wide j` takes windows j .. j + 15, `narrow j` windows j .. j + 7 (AVX-512),
    /// `scalar j` window j. Wide blocks run while they fit, then a narrow one if it fits; a last block that would run
    /// past the row starts earlier instead and redoes a few windows, which writes the same values again (W2's first
    /// pooling, 24 windows per row, runs blocks at 0 and 16; its second, 12 windows, narrow ones at 0 and 4). Rows
    /// under 8 windows (or without AVX-512) run the scalar rule; the pooling takes rows of 4-7 windows in pairs
    /// instead (`paired`). (Loops and branches without `else`: with an if-else here, F# moved each row's body into
    /// a function called once per row.)
    let inline private forBlocks (wo: int) ([<InlineIfLambda>] wide: int -> unit) ([<InlineIfLambda>] narrow: int -> unit)
                                 ([<InlineIfLambda>] scalar: int -> unit) =
        let vector = vectors () && wo >= 8
        let mutable j = 0
        while vector && j + 16 <= wo do
            wide j
            j <- j + 16
        if vector && j + 8 <= wo then
            narrow j
            j <- j + 8
        if vector && j < wo then narrow (wo - 8)
        while not vector && j < wo do
            scalar j
            j <- j + 1

    /// Whether rows of `wo` windows go two at a time (`forRowPairs`): 4 ≤ wo < 8, where one row fills less than half
    /// of a block (W2's third pooling, 6 windows per row, ran the scalar rule: 0.8-0.9 ms of a core per step each way).
    let inline private paired (wo: int) = vectors () && wo >= 4 && wo < 8

    /// For each lane l of a pair block, the index of its window's column 2j in two vectors (the first row of
    /// windows' input row in lanes 0-15, the second's in 16-31): lane l < wo holds window l of the first row, lane
    /// wo ≤ l < 2·wo window l - wo of the second; lanes from 2·wo on are neither loaded nor stored.
    let inline private pairColumns (wo: int) : I =
        let l = lanes ()
        Vector512.ConditionalSelect (Vector512.LessThan (l, Vector512.Create wo), l + l, l + l + Vector512.Create (16 - 2 * wo))

    /// Calls `pair top pooled choices` for every two rows of windows of planes [p0, p1) (the first row's top input
    /// row at `top`, the four input rows `pitch` apart; their 2·wo outputs at `pooled` and `choices`), and `row top
    /// bottom pooled choices` for a last row of windows without a partner (⌊H/2⌋ odd).
    let inline private forRowPairs (full: nativeptr<float32>) (pooled: nativeptr<float32>) (choice: nativeptr<byte>)
                                   (h: int) (w: int) (pitch: int) (p0: int) (p1: int)
                                   ([<InlineIfLambda>] pair) ([<InlineIfLambda>] row) =
        let ho, wo = h / 2, w / 2
        for p in p0 .. p1 - 1 do
            let mutable i = 0
            while i + 2 <= ho do
                let at = (p * ho + i) * wo
                pair (NativePtr.add full (p * h * pitch + 2 * i * pitch)) (NativePtr.add pooled at) (NativePtr.add choice at)
                i <- i + 2
            if i < ho then
                let top = NativePtr.add full (p * h * pitch + 2 * i * pitch)
                let at = (p * ho + i) * wo
                row top (NativePtr.add top pitch) (NativePtr.add pooled at) (NativePtr.add choice at)

    /// The first maximum of 16 windows, lane by lane, from their values at the four window positions.
    let inline private maxima (spikes: bool) (topLeft: W) (topRight: W) (bottomLeft: W) (bottomRight: W) : struct (W * I) =
        struct (topLeft, I.Zero) |> later spikes 1 topRight |> later spikes 2 bottomLeft |> later spikes 3 bottomRight

    /// The first maximum of 16 windows whose top values lie in top0, top1 and bottom values in bottom0, bottom1 (two
    /// vectors per input row, lanes 0-31): window l's left values at index lefts[l], its right ones at rights[l].
    let inline private blockMaxima (spikes: bool) (lefts: I) (rights: I) (top0: W) (top1: W) (bottom0: W) (bottom1: W) : struct (W * I) =
        maxima spikes (Avx512F.PermuteVar16x32x2 (top0, lefts, top1)) (Avx512F.PermuteVar16x32x2 (top0, rights, top1))
                      (Avx512F.PermuteVar16x32x2 (bottom0, lefts, bottom1)) (Avx512F.PermuteVar16x32x2 (bottom0, rights, bottom1))

    /// The scalar rule for window j of a row (top input row r0, bottom r1): its maximum and choice at yo, ko.
    let inline private windowAt (r0: nativeptr<float32>) (r1: nativeptr<float32>) (yo: nativeptr<float32>) (ko: nativeptr<byte>) (j: int) =
        let struct (m, k) = window (NativePtr.get r0 (2 * j)) (NativePtr.get r0 (2 * j + 1)) (NativePtr.get r1 (2 * j)) (NativePtr.get r1 (2 * j + 1))
        NativePtr.set yo j m
        NativePtr.set ko j k

    /// y and the choices k for planes [p0, p1) of x (rows `pitch` values apart, see `forWindowRows`), a row of
    /// windows at a time; `spikes` when every value of x is 0 or 1 (a LIF layer's output), which drops the NaN test
    /// (the same results for such x).
    let inline private poolRows (spikes: bool) (x: nativeptr<float32>) (y: nativeptr<float32>) (choice: nativeptr<byte>)
                                (h: int) (w: int) (pitch: int) (p0: int) (p1: int) =
        let wo = w / 2
        forWindowRows x y choice h w pitch p0 p1 (fun r0 r1 yo ko ->
            forBlocks wo
                (fun j ->
                    let r0, r1 = NativePtr.add r0 (2 * j), NativePtr.add r1 (2 * j)
                    let struct (m, k) =
                        blockMaxima spikes (evens ()) (odds ()) (Vector512.Load r0) (Vector512.Load (NativePtr.add r0 16))
                                    (Vector512.Load r1) (Vector512.Load (NativePtr.add r1 16))
                    Vector512.Store (m, NativePtr.add yo j)
                    Vector128.Store (Avx512F.ConvertToVector128Byte k, NativePtr.add ko j))
                (fun j ->
                    // 8 windows: the 16 values of each input row in one vector, the maxima in the low 8 lanes.
                    let top, bottom = Vector512.Load (NativePtr.add r0 (2 * j)), Vector512.Load (NativePtr.add r1 (2 * j))
                    let struct (m, k) =
                        maxima spikes (Avx512F.PermuteVar16x32 (top, evens ())) (Avx512F.PermuteVar16x32 (top, odds ()))
                                      (Avx512F.PermuteVar16x32 (bottom, evens ())) (Avx512F.PermuteVar16x32 (bottom, odds ()))
                    Vector256.Store (m.GetLower (), NativePtr.add yo j)
                    Vector64.Store ((Avx512F.ConvertToVector128Byte k).GetLower (), NativePtr.add ko j))
                (fun j -> windowAt r0 r1 yo ko j))

    /// The same two rows of windows at a time (`paired`).
    let inline private poolPairs (spikes: bool) (x: nativeptr<float32>) (y: nativeptr<float32>) (choice: nativeptr<byte>)
                                 (h: int) (w: int) (pitch: int) (p0: int) (p1: int) =
        let wo = w / 2
        let lefts = pairColumns wo
        let rights = lefts + I.One
        // The 2·wo lanes a pair block loads from each input row and stores of the outputs, as floats and as bytes.
        let floats, bytes = first (2 * wo), firstBytes (2 * wo)
        forRowPairs x y choice h w pitch p0 p1
            (fun top yo ko ->
                let row r = Avx512F.MaskLoad (NativePtr.add top (r * pitch), floats, W.Zero)
                let struct (m, k) = blockMaxima spikes lefts rights (row 0) (row 2) (row 1) (row 3)
                Avx512F.MaskStore (yo, floats, m)
                Avx512BW.VL.MaskStore (ko, bytes, Avx512F.ConvertToVector128Byte k))
            (fun r0 r1 yo ko -> for j in 0 .. wo - 1 do windowAt r0 r1 yo ko j)

    // One compiled loop each: an if-else around the inlined loops made F# move each row's body into a function.
    let private valueRows x y choice h w pitch p0 p1 = poolRows false x y choice h w pitch p0 p1
    let private spikeRows x y choice h w pitch p0 p1 = poolRows true x y choice h w pitch p0 p1
    let private valuePairs x y choice h w pitch p0 p1 = poolPairs false x y choice h w pitch p0 p1
    let private spikePairs x y choice h w pitch p0 p1 = poolPairs true x y choice h w pitch p0 p1

    /// y and the choices k for planes [p0, p1) of x (rows `pitch` values apart, see `forWindowRows`).
    let forwardPlanes (x: nativeptr<float32>) (y: nativeptr<float32>) (choice: nativeptr<byte>)
                      (h: int) (w: int) (pitch: int) (p0: int) (p1: int) =
        if paired (w / 2) then valuePairs x y choice h w pitch p0 p1 else valueRows x y choice h w pitch p0 p1

    /// `forwardPlanes` for spikes: every value of x is 0 or 1.
    let forwardSpikePlanes (x: nativeptr<float32>) (y: nativeptr<float32>) (choice: nativeptr<byte>)
                           (h: int) (w: int) (pitch: int) (p0: int) (p1: int) =
        if paired (w / 2) then spikePairs x y choice h w pitch p0 p1 else spikeRows x y choice h w pitch p0 p1

    /// The gradient g where the window chose `position`, else 0.
    let inline private routed (position: int) (k: I) (g: W) =
        Vector512.ConditionalSelect (Vector512.AsSingle (Vector512.Equals (k, Vector512.Create position)), g, W.Zero)

    /// The gradients of 16 windows' four positions (top left, top right, bottom left, bottom right) from the windows'
    /// gradients g and choices k: each window's gradient at its choice, 0 at its other three positions.
    let inline private routes (g: W) (k: I) : struct (W * W * W * W) =
        struct (routed 0 k g, routed 1 k g, routed 2 k g, routed 3 k g)

    /// 16 values of an input row from the routed gradients of its windows' left (a) and right (b) positions, picked
    /// by `order` from a in lanes 0-15 and b in 16-31: interleaveLow gives a0 b0 a1 b1 .. a7 b7, interleaveHigh the
    /// same from lane 8 on.
    let inline private interleaved (order: I) (a: W) (b: W) = Avx512F.PermuteVar16x32x2 (a, order, b)

    /// The scalar rule for window j of a row (top input row r0, bottom r1): its gradient at its choice, 0 elsewhere.
    let inline private routeAt (r0: nativeptr<float32>) (r1: nativeptr<float32>) (go: nativeptr<float32>) (ko: nativeptr<byte>) (j: int) =
        let g, k = NativePtr.get go j, NativePtr.get ko j
        NativePtr.set r0 (2 * j) (if k = 0uy then g else 0.0f)
        NativePtr.set r0 (2 * j + 1) (if k = 1uy then g else 0.0f)
        NativePtr.set r1 (2 * j) (if k = 2uy then g else 0.0f)
        NativePtr.set r1 (2 * j + 1) (if k = 3uy then g else 0.0f)

    /// ∂L/∂x for planes [p0, p1) of gx (rows `pitch` values apart), a row of windows at a time.
    let private backwardRows (gy: nativeptr<float32>) (choice: nativeptr<byte>) (gx: nativeptr<float32>)
                             (h: int) (w: int) (pitch: int) (p0: int) (p1: int) =
        let wo = w / 2
        forWindowRows gx gy choice h w pitch p0 p1 (fun r0 r1 go ko ->
            forBlocks wo
                (fun j ->
                    let g = Vector512.Load (NativePtr.add go j)
                    let k = Avx512F.ConvertToVector512Int32 (Vector128.Load (NativePtr.add ko j))
                    let struct (a, b, c, d) = routes g k
                    let r0, r1 = NativePtr.add r0 (2 * j), NativePtr.add r1 (2 * j)
                    Vector512.Store (interleaved (interleaveLow ()) a b, r0)
                    Vector512.Store (interleaved (interleaveHigh ()) a b, NativePtr.add r0 16)
                    Vector512.Store (interleaved (interleaveLow ()) c d, r1)
                    Vector512.Store (interleaved (interleaveHigh ()) c d, NativePtr.add r1 16))
                (fun j ->
                    // 8 gradients and choices in the low lanes; the interleaved low halves are the 16 values per row.
                    let g = Vector512.Create (Vector256.Load (NativePtr.add go j), Vector256<float32>.Zero)
                    let k = Avx512F.ConvertToVector512Int32 (Vector128.CreateScalar(NativePtr.read (NativePtr.ofNativeInt<uint64> (NativePtr.toNativeInt (NativePtr.add ko j)))).AsByte ())
                    let struct (a, b, c, d) = routes g k
                    Vector512.Store (interleaved (interleaveLow ()) a b, NativePtr.add r0 (2 * j))
                    Vector512.Store (interleaved (interleaveLow ()) c d, NativePtr.add r1 (2 * j)))
                (fun j -> routeAt r0 r1 go ko j))

    /// The same two rows of windows at a time (`paired`).
    let private backwardPairs (gy: nativeptr<float32>) (choice: nativeptr<byte>) (gx: nativeptr<float32>)
                              (h: int) (w: int) (pitch: int) (p0: int) (p1: int) =
        let wo = w / 2
        // The 2·wo lanes of the windows' gradients and choices, and of each input row's values, as floats and bytes.
        let floats, bytes = first (2 * wo), firstBytes (2 * wo)
        // The second row of windows is lanes wo .. 2·wo - 1: its input rows interleave from lane wo on.
        let second = interleaveLow () + Vector512.Create wo
        forRowPairs gx gy choice h w pitch p0 p1
            (fun top go ko ->
                let g = Avx512F.MaskLoad (go, floats, W.Zero)
                let k = Avx512F.ConvertToVector512Int32 (Avx512BW.VL.MaskLoad (ko, bytes, Vector128<byte>.Zero))
                let struct (a, b, c, d) = routes g k
                let store r (v: W) = Avx512F.MaskStore (NativePtr.add top (r * pitch), floats, v)
                store 0 (interleaved (interleaveLow ()) a b)
                store 1 (interleaved (interleaveLow ()) c d)
                store 2 (interleaved second a b)
                store 3 (interleaved second c d))
            (fun r0 r1 go ko -> for j in 0 .. wo - 1 do routeAt r0 r1 go ko j)

    /// ∂L/∂x for planes [p0, p1) of gx (rows `pitch` values apart): every element of each window written once (the
    /// gradient or 0); rows and columns outside every window (odd H or W, the rest of a pitch) are left to the
    /// caller's zero fill.
    let backwardPlanes (gy: nativeptr<float32>) (choice: nativeptr<byte>) (gx: nativeptr<float32>)
                       (h: int) (w: int) (pitch: int) (p0: int) (p1: int) =
        if paired (w / 2) then backwardPairs gy choice gx h w pitch p0 p1 else backwardRows gy choice gx h w pitch p0 p1

    /// Pools a contiguous float32 x [..., H, W] into y [..., H/2, W/2] (contiguous) and the choices (uint8, same shape).
    let forward (x: Tensor) (y: Tensor) (choice: Tensor) =
        let h, w = int x.shape.[x.shape.Length - 2], int x.shape.[x.shape.Length - 1]
        let planes = int (x.numel () / int64 (h * w))
        let xp, yp, kp = pointer<float32> x, pointer<float32> y, pointer<byte> choice
        Workers.forPlanes planes (h / 2 * (w / 2)) (fun p0 p1 -> forwardPlanes xp yp kp h w w p0 p1)

    /// Writes ∂L/∂x into gx [..., H, W] from ∂L/∂y and the choices (contiguous).
    let backward (gy: Tensor) (choice: Tensor) (gx: Tensor) =
        let h, w = int gx.shape.[gx.shape.Length - 2], int gx.shape.[gx.shape.Length - 1]
        let planes = int (gx.numel () / int64 (h * w))
        let gp, kp, xp = pointer<float32> gy, pointer<byte> choice, pointer<float32> gx
        Workers.forPlanes planes (h / 2 * (w / 2)) (fun p0 p1 -> backwardPlanes gp kp xp h w w p0 p1)

/// The 2 × 2 max pooling as an autograd function: apply (x [..., H, W] float32 on the CPU) → y [..., H/2, W/2].
type MaxPool2x2Function() =
    inherit torch.autograd.SingleTensorFunction<MaxPool2x2Function>()

    /// The autograd node's name.
    override _.Name = "SnnMaxPool2x2"

    /// Pools; saves the choice of each window.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        use detached = (vars.[0] :?> Tensor).detach ()
        use x = detached.contiguous ()
        let n = x.shape.Length
        let pooled = Array.append x.shape.[.. n - 3] [| x.shape.[n - 2] / 2L; x.shape.[n - 1] / 2L |]
        let y = torch.empty (pooled, dtype = torch.float32)
        let choice = torch.empty (pooled, dtype = torch.uint8)
        // TorchSharp reads y and choice when apply returns; libtorch keeps what it needs of them.
        FunctionHandles.releaseLater [ y; choice ]
        MaxPoolKernel.forward x y choice
        // The kernel reads raw addresses, which do not keep a tensor alive: the contiguous input must outlive it.
        GC.KeepAlive x
        ctx.save_for_backward (Collections.Generic.List [ choice ])
        FunctionHandles.shrinkOutputCache ctx
        ctx.save_data ("shape", box x.shape)
        y

    /// Routes each output's gradient to its window's chosen input.
    override _.backward (ctx: torch.autograd.AutogradContext, gradY: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnMaxPool2x2" 1 (fun () ->
            FunctionHandles.release ()
            use gradY = gradY
            use choice = ctx.get_saved_variables().[0]
            let shape = ctx.get_data "shape" :?> int64[]
            let n = shape.Length
            use g = gradY.contiguous ()
            // With an odd height or width, the last row or column belongs to no window and gets 0.
            let covered = shape.[n - 2] % 2L = 0L && shape.[n - 1] % 2L = 0L
            let gradX = if covered then torch.empty (shape, dtype = torch.float32) else torch.zeros (shape, dtype = torch.float32)
            MaxPoolKernel.backward g choice gradX
            GC.KeepAlive g
            FunctionHandles.releaseLater [ gradX ]
            Collections.Generic.List [ gradX ])

/// Running the 2 × 2 max pooling.
[<RequireQualifiedAccess>]
module MaxPool2x2 =

    /// max_pool2d(x, 2) for x [..., H, W] with H, W ≥ 2: the fused kernel for float32 on the CPU, libtorch's
    /// operator otherwise (other dtypes and devices).
    let apply (x: Tensor) : Tensor =
        if isNull (box x) then nullArg "x"
        if x.dim () < 3L then invalidArg "x" $"must be [..., C, H, W], got shape %A{x.shape}"
        let h, w = x.shape.[x.shape.Length - 2], x.shape.[x.shape.Length - 1]
        if h < 2L || w < 2L then invalidArg "x" $"needs H, W >= 2 for 2 x 2 pooling, got shape %A{x.shape}"
        if x.dtype = torch.float32 && x.device_type = DeviceType.CPU && x.numel () <= int64 Int32.MaxValue then
            let pooled = MaxPool2x2Function.apply x
            FunctionHandles.release ()
            pooled
        else torch.nn.functional.max_pool2d (x, [| 2L; 2L |])
