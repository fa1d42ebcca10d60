/// A fully connected layer for sparse spike input (binary spikes or small event counts) that only touches the
/// weights of active inputs.
///
/// For x [M; K] (M = T·B rows of spikes or event counts, mostly 0), W [N; K] and b [N]:
///
///     forward:        y_m = b + Σ_{k : x_mk ≠ 0} x_mk W[:, k]                 (M · nnz/M · N multiply-adds)
///     weight grad:    ∂L/∂W[:, k] = Σ_{m : x_mk ≠ 0} x_mk ∂L/∂y_m             (only the columns of active inputs)
///     bias grad:      ∂L/∂b = Σ_m ∂L/∂y_m
///     input grad:     ∂L/∂x = ∂L/∂y · W                                       (dense; only when x needs it)
///
/// With input activity p the forward and weight gradient cost p times the dense GEMMs' operations, but as
/// memory-bound vector additions instead of a cache-blocked GEMM, so the dense GEMM wins above a measured activity
/// (`SpikeLinear` switches). The sums run in a different order than a GEMM's: results agree to float32 rounding.
namespace Snn

#nowarn "9"

open System
open System.Numerics
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open System.Buffers
open System.Threading
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Tensors

/// The nonzero entries of a matrix [M; K] in compressed-row form: row m's active columns are
/// `Columns.[RowStart.[m] .. RowStart.[m + 1] - 1]` (ascending), with the values at the same positions of `Values`.
///
/// `Columns` and `Values` are rented from the shared array pools (so they may be longer than `Entries`) and go back
/// when the rows are disposed: fresh arrays of this size (1.5 MB for W1's input) cost more in page faults than the
/// compression itself (1.1-2.1 ms against 0.1 ms pooled, measured). Rows that are never disposed are collected
/// like any array.
[<Sealed; AllowNullLiteral>]
type SpikeRows internal (rows: int, width: int, rowStart: int[], columns: int[], values: float32[], entries: int, binary: bool) =
    [<DefaultValue>] val mutable private returned: int

    /// Rows M.
    member _.Rows = rows
    /// Columns K.
    member _.Width = width
    /// Offsets of each row's entries in `Columns` (M + 1 values).
    member _.RowStart = rowStart
    /// Column indices of the nonzero entries (the first `Entries` values).
    member _.Columns = columns
    /// The nonzero values (1 for spikes), at the positions of `Columns`.
    member _.Values = values
    /// Number of nonzero entries.
    member _.Entries = entries
    /// Whether every nonzero value is 1 (binary spikes): the kernels then add without multiplying.
    member _.Binary = binary
    /// Fraction of nonzero entries, nnz / (M·K).
    member _.Activity = if rows = 0 || width = 0 then 0.0 else float entries / (float rows * float width)
    /// Whether the arrays went back to the pools (the rows must not be read any more).
    member s.Disposed = Volatile.Read &s.returned = 1

    interface IDisposable with
        /// Returns the arrays to the pools, once.
        member s.Dispose () =
            if Interlocked.Exchange (&s.returned, 1) = 0 then
                ArrayPool<int>.Shared.Return columns
                ArrayPool<float32>.Shared.Return values

/// Raw loops of the sparse layer.
module internal SparseKernel =

    type private V = Vector<float32>

    let inline private pointer (t: Tensor) : nativeptr<float32> = NativePtr.ofNativeInt (Raw.address t)

    /// Rows of work per parallel item: about a quarter of each core's share, in whole groups of 16 (the transposed
    /// output is written 16 rows at a time).
    let private rowsPerItem (rows: int) =
        let share = (rows + 4 * Environment.ProcessorCount - 1) / (4 * Environment.ProcessorCount)
        max 16 ((share + 15) / 16 * 16)

    let private forRows (rows: int) (body: int -> int -> unit) = Workers.forRanges rows (rowsPerItem rows) body

    /// The nonzero lanes of 8 floats as the low bits of a mask (NaN counts as nonzero, ±0 as zero).
    let inline private nonzeroLanes (p: nativeptr<float32>) : uint32 =
        ~~~(Vector256.ExtractMostSignificantBits (Vector256.Equals (Vector256.Load p, Vector256<float32>.Zero))) &&& 0xFFu

    /// The nonzero lanes of 16 floats as a mask vector (NaN counts as nonzero, ±0 as zero).
    let inline private nonzero16 (v: Vector512<float32>) = Avx512F.CompareNotEqual (v, Vector512<float32>.Zero)

    /// Counts the nonzero entries of rows [r0, r1) into `counts`, sixteen (with AVX-512) or eight at a time through
    /// lane masks.
    let private countRows (xp: nativeptr<float32>) (columns: int) (counts: int[]) (r0: int) (r1: int) =
        let wide = Avx512F.IsSupported
        for r in r0 .. r1 - 1 do
            let row = NativePtr.add xp (r * columns)
            let mutable count = 0
            let mutable j = 0
            if wide then
                while j + 16 <= columns do
                    count <- count + BitOperations.PopCount (Vector512.ExtractMostSignificantBits (nonzero16 (Vector512.Load (NativePtr.add row j))))
                    j <- j + 16
            while j + 8 <= columns do
                count <- count + BitOperations.PopCount (nonzeroLanes (NativePtr.add row j))
                j <- j + 8
            for i in j .. columns - 1 do
                if NativePtr.get row i <> 0.0f then count <- count + 1
            counts.[r] <- count

    /// For each 8-bit lane mask, the positions of its set bits in ascending order (then zeros): the permutation that
    /// packs a group's nonzero lanes to its front.
    let private packingPermutations : int[] =
        Array.init (256 * 8) (fun i ->
            let mask, slot = i / 8, i % 8
            let lanes = [| for lane in 0 .. 7 do if mask &&& (1 <<< lane) <> 0 then yield lane |]
            if slot < lanes.Length then lanes.[slot] else 0)

    /// Writes the column indices and values of the nonzero entries of one row of `columns` floats at ip, vp from
    /// position `start` on, never at or past `limit`; returns the position after them, or -1 when they do not fit.
    ///
    /// With AVX2, each group of 8 inputs is packed without branches: its lane mask selects a permutation that moves
    /// the nonzero lanes (their values and their column numbers) to the front, all 8 lanes are stored, and the write
    /// position advances by the number of nonzeros. A loop over the set bits instead costs a mispredicted branch per
    /// spike (measured 1.9 ms against 0.8 ms for W1's [800; 2312] input at 10 % activity). With AVX-512, groups of 16
    /// are packed by the compress instruction into a register, then stored whole (its form that stores only the
    /// packed lanes is microcoded on Intel cores). Whole stores run while they end before `limit`; the eight-wide
    /// loop and then one entry at a time take the rest.
    let inline private compressRow (row: nativeptr<float32>) (columns: int) (ip: nativeptr<int>) (vp: nativeptr<float32>)
                                   (permutations: nativeptr<int>) (start: int) (limit: int) : int =
        let lanes = Vector256.Create (0, 1, 2, 3, 4, 5, 6, 7)
        let lanes16 = Vector512.Create (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let mutable at = start
        let mutable j = 0
        if Avx512F.IsSupported then
            while j + 16 <= columns && at + 16 <= limit do
                let group = Vector512.Load (NativePtr.add row j)
                let nonzero = nonzero16 group
                Vector512.Store (Avx512F.Compress (Vector512<int>.Zero, nonzero.AsInt32 (), Vector512.Create j + lanes16), NativePtr.add ip at)
                Vector512.Store (Avx512F.Compress (Vector512<float32>.Zero, nonzero, group), NativePtr.add vp at)
                at <- at + BitOperations.PopCount (Vector512.ExtractMostSignificantBits nonzero)
                j <- j + 16
        while j + 8 <= columns && at >= 0 do
            let group = NativePtr.add row j
            let mask = nonzeroLanes group
            if X86.Avx2.IsSupported && at + 8 <= limit then
                let permutation = Vector256.Load (NativePtr.add permutations (int mask * 8))
                Vector256.Store (X86.Avx2.PermuteVar8x32 (Vector256.Create j + lanes, permutation), NativePtr.add ip at)
                Vector256.Store (X86.Avx2.PermuteVar8x32 (Vector256.Load group, permutation), NativePtr.add vp at)
                at <- at + BitOperations.PopCount mask
            else
                let mutable bits = mask
                while bits <> 0u && at >= 0 do
                    if at = limit then at <- -1
                    else
                        let i = j + BitOperations.TrailingZeroCount bits
                        NativePtr.set ip at i
                        NativePtr.set vp at (NativePtr.get row i)
                        at <- at + 1
                        bits <- bits &&& (bits - 1u)
            j <- j + 8
        while j < columns && at >= 0 do
            if NativePtr.get row j <> 0.0f then
                if at = limit then at <- -1
                else
                    NativePtr.set ip at j
                    NativePtr.set vp at (NativePtr.get row j)
                    at <- at + 1
            j <- j + 1
        at

    /// Writes the column indices and values of the nonzero entries of rows [r0, r1) at their counted places.
    let private fillRows (xp: nativeptr<float32>) (columns: int) (rowStart: int[]) (indices: int[]) (values: float32[]) (r0: int) (r1: int) =
        use permutations = fixed packingPermutations
        use ip = fixed indices
        use vp = fixed values
        for r in r0 .. r1 - 1 do
            compressRow (NativePtr.add xp (r * columns)) columns ip vp permutations rowStart.[r] rowStart.[r + 1] |> ignore

    /// Compresses rows [r0, r1) one after the other into indices and values from `start` on, before `limit`, with
    /// each row's count into `counts`; false when they need more room.
    let private fillStretch (xp: nativeptr<float32>) (columns: int) (counts: int[]) (indices: int[]) (values: float32[])
                            (start: int) (limit: int) (r0: int) (r1: int) : bool =
        use permutations = fixed packingPermutations
        use ip = fixed indices
        use vp = fixed values
        let mutable at = start
        let mutable r = r0
        while r < r1 && at >= 0 do
            let next = compressRow (NativePtr.add xp (r * columns)) columns ip vp permutations at limit
            if next >= 0 then counts.[r] <- next - at
            at <- next
            r <- r + 1
        at >= 0

    /// Each row's first entry from the rows' counts, and the total after the last (M + 1 values).
    let private rowStarts (counts: int[]) =
        let starts = Array.zeroCreate<int> (counts.Length + 1)
        for r in 0 .. counts.Length - 1 do starts.[r + 1] <- starts.[r] + counts.[r]
        starts

    /// The compressed rows from their starts (M + 1 values) and their written entries (indices, values).
    let private compressed (rows: int) (columns: int) (rowStart: int[]) (indices: int[]) (values: float32[]) =
        let nonzero = rowStart.[rows]
        let binary = MemoryExtensions.IndexOfAnyExcept (ReadOnlySpan<float32> (values, 0, nonzero), 1.0f) < 0
        new SpikeRows (rows, columns, rowStart, indices, values, nonzero, binary)

    /// Whether `nonzero` of rows × columns entries is more than `maxActivity` of them.
    let private tooDense (maxActivity: float) (rows: int) (columns: int) (nonzero: int) =
        rows > 0 && columns > 0 && float nonzero / (float rows * float columns) > maxActivity

    /// The one-pass form of `rowsWithin` for maxActivity < 1/2: each work item compresses its rows into its own
    /// stretch of scratch arrays, room for maxActivity of its entries (plus one vector), and the stretches are then
    /// copied to their places. Some result (the rows or None) when every item fit; None when one needs more room:
    /// an item denser than maxActivity says nothing of the whole, which the counting pass then decides. Reading x
    /// once instead of twice: 0.57 → 0.44 ms for W1's [800; 2312] input at 10 %. An item of a denser x stops as soon
    /// as its room is full.
    let private rowsInOnePass (maxActivity: float) (xp: nativeptr<float32>) (rows: int) (columns: int) : SpikeRows option option =
        let per = rowsPerItem rows
        let items = (rows + per - 1) / per
        // Item i's stretch is [starts[i], starts[i + 1]): room for maxActivity of its entries and one whole vector.
        let starts = Array.zeroCreate<int> (items + 1)
        for item in 0 .. items - 1 do
            let itemRows = min rows (item * per + per) - item * per
            starts.[item + 1] <- starts.[item] + int (Math.Ceiling (maxActivity * float itemRows * float columns)) + 16
        let counts = Array.zeroCreate<int> rows
        let stretchIndices = ArrayPool<int>.Shared.Rent (max 1 starts.[items])
        let stretchValues = ArrayPool<float32>.Shared.Rent (max 1 starts.[items])
        try
            let fits = Array.zeroCreate<bool> items
            forRows rows (fun r0 r1 ->
                let item = r0 / per
                fits.[item] <- fillStretch xp columns counts stretchIndices stretchValues starts.[item] starts.[item + 1] r0 r1)
            if not (Array.forall id fits) then None
            else
                let rowStart = rowStarts counts
                if tooDense maxActivity rows columns rowStart.[rows] then Some None
                else
                    let nonzero = rowStart.[rows]
                    let indices = ArrayPool<int>.Shared.Rent (max 1 nonzero)
                    let values = ArrayPool<float32>.Shared.Rent (max 1 nonzero)
                    forRows rows (fun r0 r1 ->
                        let item, length = r0 / per, rowStart.[r1] - rowStart.[r0]
                        Array.Copy (stretchIndices, starts.[item], indices, rowStart.[r0], length)
                        Array.Copy (stretchValues, starts.[item], values, rowStart.[r0], length))
                    Some (Some (compressed rows columns rowStart indices values))
        finally
            ArrayPool<int>.Shared.Return stretchIndices
            ArrayPool<float32>.Shared.Return stretchValues

    /// The compressed rows of a contiguous float32 matrix [M; K] when at most `maxActivity` of its entries are
    /// nonzero, else None. Below an activity of 1/2, in one pass (`rowsInOnePass`) where it decides, unless
    /// `likelyDense` (the caller's last matrix was above maxActivity: an x just above it would pay most of a writing
    /// pass before the counting one); otherwise the entries are counted first, so a dense matrix costs one counting
    /// pass only, and then written.
    let rowsWithin (maxActivity: float) (likelyDense: bool) (x: Tensor) : SpikeRows option =
        let rows, columns = int x.shape.[0], int x.shape.[1]
        let xp = pointer x
        let onePass =
            if not likelyDense && maxActivity >= 0.0 && maxActivity < 0.5 && rows > 0 && columns > 0 then
                rowsInOnePass maxActivity xp rows columns
            else None
        match onePass with
        | Some decided -> decided
        | None ->
            let counts = Array.zeroCreate<int> rows
            forRows rows (fun r0 r1 -> countRows xp columns counts r0 r1)
            let rowStart = rowStarts counts
            let nonzero = rowStart.[rows]
            if tooDense maxActivity rows columns nonzero then None
            else
                // Not cleared: fillRows writes every entry before anything reads it.
                let indices = ArrayPool<int>.Shared.Rent (max 1 nonzero)
                let values = ArrayPool<float32>.Shared.Rent (max 1 nonzero)
                forRows rows (fun r0 r1 -> fillRows xp columns rowStart indices values r0 r1)
                Some (compressed rows columns rowStart indices values)

    /// The transpose of compressed rows (for each column k, the rows m with x_mk ≠ 0, ascending), by a counting sort
    /// in parallel: the rows are cut into parts, each part counts its entries per column, and each (column, part)
    /// pair gets its own slice of the output, in part order, so the parts write without coordination and every
    /// column keeps its rows ascending.
    let transpose (s: SpikeRows) : SpikeRows =
        let parts = max 1 (min (2 * Environment.ProcessorCount) (s.Rows / 64))
        let perPart = (s.Rows + parts - 1) / max 1 parts
        let partRows p = p * perPart, min s.Rows (p * perPart + perPart)
        // counts.[p * width + k]: entries of column k in part p; then, in place, where part p writes column k.
        let width = s.Width
        let counts = Array.zeroCreate<int> (parts * width)
        Workers.forEach parts (fun p ->
            let r0, r1 = partRows p
            let columns = s.Columns
            for e in s.RowStart.[r0] .. s.RowStart.[r1] - 1 do
                let at = p * width + columns.[e]
                counts.[at] <- counts.[at] + 1)
        let rowStart = Array.zeroCreate<int> (width + 1)
        let mutable next = 0
        for k in 0 .. width - 1 do
            rowStart.[k] <- next
            for p in 0 .. parts - 1 do
                let c = counts.[p * width + k]
                counts.[p * width + k] <- next
                next <- next + c
        rowStart.[width] <- next
        // Pooled for the same reason as in rowsWithin; every entry is written below.
        let indices = ArrayPool<int>.Shared.Rent (max 1 s.Entries)
        let values = ArrayPool<float32>.Shared.Rent (max 1 s.Entries)
        Workers.forEach parts (fun p ->
            let r0, r1 = partRows p
            let columns = s.Columns
            for m in r0 .. r1 - 1 do
                for e in s.RowStart.[m] .. s.RowStart.[m + 1] - 1 do
                    let at = p * width + columns.[e]
                    let position = counts.[at]
                    indices.[position] <- m
                    if not s.Binary then values.[position] <- s.Values.[e]
                    counts.[at] <- position + 1)
        if s.Binary then Span<float32>(values, 0, s.Entries).Fill 1.0f
        new SpikeRows (s.Width, s.Rows, rowStart, indices, values, s.Entries, s.Binary)

    /// Rows [r0, r1) of out [R; w] (rows `outStride` floats apart) = init [w] (or 0) + Σ_{e in row r} value_e ·
    /// source[index_e, :] (rows `sourceStride` floats apart). Four source rows are added per pass so each output
    /// vector is loaded and stored once per four rows. The portable path: any vector width, any w.
    let private gatherRows (s: SpikeRows) (source: nativeptr<float32>) (sourceStride: int) (init: nativeptr<float32>)
                           (hasInit: bool) (out: nativeptr<float32>) (outStride: int) (w: int) (r0: int) (r1: int) =
        let width = V.Count
        let full = w / width * width
        for r in r0 .. r1 - 1 do
            let o = NativePtr.add out (r * outStride)
            let mutable j = 0
            while j < full do
                Vector.Store ((if hasInit then Vector.Load (NativePtr.add init j) else V.Zero), NativePtr.add o j)
                j <- j + width
            for j in full .. w - 1 do NativePtr.set o j (if hasInit then NativePtr.get init j else 0.0f)
            let e0, e1 = s.RowStart.[r], s.RowStart.[r + 1]
            let mutable e = e0
            while e + 4 <= e1 do
                let a = NativePtr.add source (s.Columns.[e] * sourceStride)
                let b = NativePtr.add source (s.Columns.[e + 1] * sourceStride)
                let c = NativePtr.add source (s.Columns.[e + 2] * sourceStride)
                let d = NativePtr.add source (s.Columns.[e + 3] * sourceStride)
                let wa, wb, wc, wd = s.Values.[e], s.Values.[e + 1], s.Values.[e + 2], s.Values.[e + 3]
                if wa = 1.0f && wb = 1.0f && wc = 1.0f && wd = 1.0f then
                    // Binary spikes: plain additions.
                    let mutable j = 0
                    while j < full do
                        let sum = (Vector.Load (NativePtr.add a j) + Vector.Load (NativePtr.add b j)) + (Vector.Load (NativePtr.add c j) + Vector.Load (NativePtr.add d j))
                        Vector.Store (Vector.Load (NativePtr.add o j) + sum, NativePtr.add o j)
                        j <- j + width
                    for j in full .. w - 1 do
                        NativePtr.set o j (NativePtr.get o j + ((NativePtr.get a j + NativePtr.get b j) + (NativePtr.get c j + NativePtr.get d j)))
                else
                    let va, vb, vc, vd = V wa, V wb, V wc, V wd
                    let mutable j = 0
                    while j < full do
                        let sum = (Vector.Load (NativePtr.add a j) * va + Vector.Load (NativePtr.add b j) * vb) + (Vector.Load (NativePtr.add c j) * vc + Vector.Load (NativePtr.add d j) * vd)
                        Vector.Store (Vector.Load (NativePtr.add o j) + sum, NativePtr.add o j)
                        j <- j + width
                    for j in full .. w - 1 do
                        NativePtr.set o j (NativePtr.get o j + ((NativePtr.get a j * wa + NativePtr.get b j * wb) + (NativePtr.get c j * wc + NativePtr.get d j * wd)))
                e <- e + 4
            while e < e1 do
                let a = NativePtr.add source (s.Columns.[e] * sourceStride)
                let wa = s.Values.[e]
                let va = V wa
                let mutable j = 0
                while j < full do
                    Vector.Store (Vector.Load (NativePtr.add o j) + Vector.Load (NativePtr.add a j) * va, NativePtr.add o j)
                    j <- j + width
                for j in full .. w - 1 do NativePtr.set o j (NativePtr.get o j + NativePtr.get a j * wa)
                e <- e + 1

    type private W = Vector512<float32>

    /// Columns per block of the cache-blocked path: eight 16-float registers.
    let private blockColumns = 128

    /// Rows [r0, r1) of one 128-column block of out from a packed source block [*; 128] (contiguous); out's element
    /// (r, j) is at r·rowStride + j·columnStride.
    ///
    /// The block's sums live in eight AVX-512 registers while a row's active source rows are added, so each output
    /// element is written once; the packed block (1.2 MB for W1's first layer) stays in the core's L2 over all rows.
    /// Packing matters: in the unpacked [K; N] source, N = 512 floats apart, the rows of a block map onto a quarter
    /// of the L2 sets and evict each other (3x slower, measured).
    ///
    /// With columnStride 1 (a row-major output) each row's sums are stored as vectors. Otherwise (the transposed
    /// output of the weight gradient, rowStride 1) the sums of up to 16 consecutive rows are collected in a buffer
    /// and written column by column, so each column's 16 values fill one cache line in order: storing each row's 128
    /// values straight away touched 128 lines per row (the weight gradient's sums took 3.6 instead of 2.2 ms at 1 %
    /// activity); a 16 × 16 register transpose instead of the element copies measured no faster.
    let private gatherBlock (s: SpikeRows) (block: nativeptr<float32>) (init: nativeptr<float32>) (hasInit: bool)
                            (out: nativeptr<float32>) (rowStride: int) (columnStride: int) (r0: int) (r1: int) =
        let direct = columnStride = 1
        let group = 16
        // Pooled, not stackalloc: see AdamUpdate.update.
        use buffer = Scratch.rent (if direct then 0 else group * blockColumns) 0.0f
        use sums = fixed buffer.Values
        for r in r0 .. r1 - 1 do
            let mutable a0 = if hasInit then Vector512.Load init else W.Zero
            let mutable a1 = if hasInit then Vector512.Load (NativePtr.add init 16) else W.Zero
            let mutable a2 = if hasInit then Vector512.Load (NativePtr.add init 32) else W.Zero
            let mutable a3 = if hasInit then Vector512.Load (NativePtr.add init 48) else W.Zero
            let mutable a4 = if hasInit then Vector512.Load (NativePtr.add init 64) else W.Zero
            let mutable a5 = if hasInit then Vector512.Load (NativePtr.add init 80) else W.Zero
            let mutable a6 = if hasInit then Vector512.Load (NativePtr.add init 96) else W.Zero
            let mutable a7 = if hasInit then Vector512.Load (NativePtr.add init 112) else W.Zero
            let e1 = s.RowStart.[r + 1]
            if s.Binary then
                for e in s.RowStart.[r] .. e1 - 1 do
                    let p = NativePtr.add block (s.Columns.[e] * blockColumns)
                    a0 <- a0 + Vector512.Load p
                    a1 <- a1 + Vector512.Load (NativePtr.add p 16)
                    a2 <- a2 + Vector512.Load (NativePtr.add p 32)
                    a3 <- a3 + Vector512.Load (NativePtr.add p 48)
                    a4 <- a4 + Vector512.Load (NativePtr.add p 64)
                    a5 <- a5 + Vector512.Load (NativePtr.add p 80)
                    a6 <- a6 + Vector512.Load (NativePtr.add p 96)
                    a7 <- a7 + Vector512.Load (NativePtr.add p 112)
            else
                for e in s.RowStart.[r] .. e1 - 1 do
                    let p = NativePtr.add block (s.Columns.[e] * blockColumns)
                    let v = Vector512.Create s.Values.[e]
                    a0 <- a0 + Vector512.Load p * v
                    a1 <- a1 + Vector512.Load (NativePtr.add p 16) * v
                    a2 <- a2 + Vector512.Load (NativePtr.add p 32) * v
                    a3 <- a3 + Vector512.Load (NativePtr.add p 48) * v
                    a4 <- a4 + Vector512.Load (NativePtr.add p 64) * v
                    a5 <- a5 + Vector512.Load (NativePtr.add p 80) * v
                    a6 <- a6 + Vector512.Load (NativePtr.add p 96) * v
                    a7 <- a7 + Vector512.Load (NativePtr.add p 112) * v
            let slot = (r - r0) % group
            let target = if direct then NativePtr.add out (r * rowStride) else NativePtr.add sums (slot * blockColumns)
            Vector512.Store (a0, target)
            Vector512.Store (a1, NativePtr.add target 16)
            Vector512.Store (a2, NativePtr.add target 32)
            Vector512.Store (a3, NativePtr.add target 48)
            Vector512.Store (a4, NativePtr.add target 64)
            Vector512.Store (a5, NativePtr.add target 80)
            Vector512.Store (a6, NativePtr.add target 96)
            Vector512.Store (a7, NativePtr.add target 112)
            if not direct && (slot = group - 1 || r = r1 - 1) then
                let first = r - slot
                for j in 0 .. blockColumns - 1 do
                    let column = NativePtr.add out (j * columnStride + first)
                    for i in 0 .. slot do NativePtr.set column i (NativePtr.get sums (i * blockColumns + j))

    /// out [R; N] (contiguous) with row r = init + Σ of the `source` [*; N] rows listed for r (source: any strides;
    /// init: a contiguous [N] tensor or null); with `transposed`, out is [N; R] (contiguous) and receives the
    /// transpose, as the weight gradient needs it (a [R; N] result would have to be copied across strides after).
    ///
    /// Where AVX-512 runs natively, the first ⌊N/128⌋·128 columns are copied once into packed blocks
    /// [N/128; *; 128] and summed block by block (`gatherBlock`); the work items are (block, row range) pairs in
    /// block-major order, so each thread's share of items keeps its blocks in its own L2. The remaining columns
    /// (all of them elsewhere) take the portable path from a contiguous copy.
    let gather (s: SpikeRows) (source: Tensor) (init: Tensor) (out: Tensor) (transposed: bool) =
        let n = int out.shape.[if transposed then 0 else 1]
        let sourceRows = source.shape.[0]
        let blocks = if Vector512.IsHardwareAccelerated then n / blockColumns else 0
        let blocked = blocks * blockColumns
        use packed =
            if blocks = 0 then null
            else source.narrow(1L, 0L, int64 blocked).reshape(sourceRows, int64 blocks, int64 blockColumns).permute(1L, 0L, 2L).contiguous ()
        use rest = if blocked < n then source.narrow(1L, int64 blocked, int64 (n - blocked)).contiguous () else null
        // The portable path writes rows; for a transposed output it writes them to a copy that is transposed after.
        use restOut = if blocked < n && transposed then torch.empty ([| int64 s.Rows; int64 (n - blocked) |], dtype = torch.float32) else null
        let op = pointer out
        let hasInit = not (isNull (box init))
        let ip = if hasInit then pointer init else op
        let pp = if blocks = 0 then op else pointer packed
        let rp = if isNull (box rest) then op else pointer rest
        let rop = if isNull (box restOut) then NativePtr.add op blocked else pointer restOut
        let restStride = if transposed then n - blocked else n
        let rowStride, columnStride = if transposed then 1, s.Rows else n, 1
        let per = rowsPerItem s.Rows
        let ranges = (s.Rows + per - 1) / per
        let run item =
            let block, range = item / ranges, item % ranges
            let r0, r1 = range * per, min s.Rows (range * per + per)
            let c0 = block * blockColumns
            if block < blocks then
                gatherBlock s (NativePtr.add pp (c0 * int sourceRows)) (NativePtr.add ip c0) hasInit (NativePtr.add op (c0 * columnStride)) rowStride columnStride r0 r1
            else gatherRows s rp (n - blocked) (NativePtr.add ip blocked) hasInit rop restStride (n - blocked) r0 r1
        let items = (blocks + (if blocked < n then 1 else 0)) * ranges
        if items = 1 then run 0
        elif items > 1 then Workers.forEach items run
        if not (isNull (box restOut)) then out.narrow(0L, int64 blocked, int64 (n - blocked)).copy_ (restOut.t ()) |> ignore
        // Raw addresses do not keep a tensor alive: the copies must outlive the loops.
        GC.KeepAlive packed
        GC.KeepAlive rest
        GC.KeepAlive restOut

/// The sparse linear layer as an autograd function: apply (x [M; K] float32, W [N; K], b [N] or null, SpikeRows
/// of x, whether x needs a gradient, whether the function owns the rows, whether ∂L/∂x is computed in bfloat16) →
/// y [M; N]. It keeps the rows, not x, for the backward pass (as the sparse convolution keeps its masks): owned rows
/// are disposed by a backward pass that frees the graph, and a retained graph keeps them for the next pass.
type SparseBinaryLinearFunction() =
    inherit torch.autograd.SingleTensorFunction<SparseBinaryLinearFunction>()

    /// The autograd node's name.
    override _.Name = "SnnSparseBinaryLinear"

    /// y = b + Σ over active inputs of x_mk · W's columns; saves W and the compressed rows.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let weight = (vars.[1] :?> Tensor).detach ()
        let bias = vars.[2] :?> Tensor
        let rows = vars.[3] :?> SpikeRows
        let transposed = weight.t ()
        let y = torch.empty ([| int64 rows.Rows; weight.shape.[0] |], dtype = torch.float32)
        let biasValues = if isNull (box bias) then null else bias.detach().contiguous ()
        SparseKernel.gather rows transposed biasValues y false
        // The kernel reads raw addresses, which do not keep a tensor alive: the bias copy must outlive it (the weights
        // are read from the packed copies `gather` keeps alive itself).
        GC.KeepAlive biasValues
        ctx.save_for_backward (Collections.Generic.List [ weight ])
        ctx.save_data ("rows", box rows)
        ctx.save_data ("inputGrad", vars.[4])
        ctx.save_data ("ownsRows", vars.[5])
        ctx.save_data ("bf16InputGradient", vars.[6])
        ctx.save_data ("bias", box (not (isNull (box bias))))
        y

    /// ∂L/∂W touches only the columns of active inputs; ∂L/∂x is a dense GEMM (in bfloat16 if asked) when x needs it.
    override _.backward (ctx: torch.autograd.AutogradContext, gradY: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnSparseBinaryLinear" 7 (fun () ->
            let weight = ctx.get_saved_variables().[0]
            let rows = ctx.get_data "rows" :?> SpikeRows
            if rows.Disposed then invalidOp "the compressed rows were already released (by their owner or a backward pass that freed the graph)"
            let g = gradY.contiguous ()
            let gradW = torch.empty ([| weight.shape.[0]; int64 rows.Width |], dtype = torch.float32)
            (use columns = SparseKernel.transpose rows
             SparseKernel.gather columns g null gradW true)
            GC.KeepAlive g
            if (ctx.get_data "ownsRows" :?> bool) && FunctionHandles.freesGraph () then (rows :> IDisposable).Dispose ()
            let gradX =
                if not (ctx.get_data "inputGrad" :?> bool) then null
                elif ctx.get_data "bf16InputGradient" :?> bool then inBfloat16 (fun g16 w16 -> g16.mm w16) g weight
                else g.mm weight
            let gradB = if ctx.get_data "bias" :?> bool then g.sum ([| 0L |]) else null
            // One gradient per argument of apply: the compressed rows and the flags get none.
            Collections.Generic.List [ gradX; gradW; gradB; null; null; null; null ])

/// Running the sparse linear layer.
[<RequireQualifiedAccess>]
module SparseSpikes =

    /// `rowsWithin`, told whether x is likely above maxActivity (as the last input of the same layer was): then the
    /// entries are counted before anything is written.
    let internal rowsWithinExpecting (likelyDense: bool) (maxActivity: float) (x: Tensor) : SpikeRows option =
        if isNull (box x) then nullArg "x"
        if x.dim () <> 2L then invalidArg "x" $"must be a matrix [M; K], got shape %A{x.shape}"
        if x.dtype <> torch.float32 || x.device_type <> DeviceType.CPU then None
        else
            use c = x.detach().contiguous ()
            SparseKernel.rowsWithin maxActivity likelyDense c

    /// The compressed rows of x [M; K] (float32, CPU) when at most `maxActivity` of its entries are nonzero, else
    /// None (also for other dtypes and devices). Dispose them when done (their arrays go back to a pool).
    let rowsWithin (maxActivity: float) (x: Tensor) : SpikeRows option = rowsWithinExpecting false maxActivity x

    /// The compressed rows of x [M; K] (float32, CPU), else None.
    let rows (x: Tensor) : SpikeRows option = rowsWithin infinity x

    let private checkedApply (x: Tensor) (active: SpikeRows) (weight: Tensor) (bias: Tensor) (bf16InputGradient: bool) (owned: bool) =
        if weight.dim () <> 2L || weight.shape.[1] <> int64 active.Width then
            invalidArg "weight" $"must be [N; {active.Width}], got shape %A{weight.shape}"
        if weight.dtype <> torch.float32 then invalidArg "weight" $"must be float32, got {weight.dtype}"
        if int64 active.Rows <> x.shape.[0] then invalidArg "active" $"describes {active.Rows} rows, x has {x.shape.[0]}"
        if active.Disposed then invalidArg "active" "was disposed"
        SparseBinaryLinearFunction.apply (x, weight, bias, box active, box x.requires_grad, box owned, box bf16InputGradient)

    /// y = x Wᵀ + b for sparse x [M; K] given its compressed rows (from `rows`, still the caller's to dispose after
    /// the backward pass); W [N; K] and b [N] (or null) float32. Differentiable in W, b and (densely) x, whose
    /// gradient is computed in bfloat16 when `bf16InputGradient` (`SpikeLinearOptions.Bf16InputGradient`).
    let linear (x: Tensor) (active: SpikeRows) (weight: Tensor) (bias: Tensor) (bf16InputGradient: bool) : Tensor =
        checkedApply x active weight bias bf16InputGradient false

    /// `linear` that takes over the rows: they are disposed once nothing can read them any more (right away when
    /// the result needs no gradient, else by the backward pass that frees the graph).
    let internal linearOwning (x: Tensor) (active: SpikeRows) (weight: Tensor) (bias: Tensor) (bf16InputGradient: bool) : Tensor =
        let y = checkedApply x active weight bias bf16InputGradient true
        if not y.requires_grad then (active :> IDisposable).Dispose ()
        y
