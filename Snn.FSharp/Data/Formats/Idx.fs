/// IDX files, the format of MNIST and Fashion-MNIST, plain or gzip-compressed (`.gz`).
///
/// Layout (all integers BIG-endian): two zero bytes; a type byte (0x08 unsigned byte, 0x09 signed byte,
/// 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64); a byte giving the number of dimensions d; d uint32
/// dimension sizes, outermost first; then the elements in row-major order.
/// MNIST and Fashion-MNIST: `train-images-idx3-ubyte` [60000; 28; 28], `train-labels-idx1-ubyte` [60000],
/// `t10k-images-idx3-ubyte` [10000; 28; 28], `t10k-labels-idx1-ubyte` [10000], each optionally with `.gz`.
namespace Snn.Data

open System
open System.Buffers.Binary
open System.IO
open System.IO.Compression

/// An array read from an IDX file.
type IdxArray =
    { /// Dimension sizes, outermost first.
      Shape: int[]
      /// The type byte (0x08 = unsigned byte, 0x09 = signed byte, 0x0B = int16, 0x0C = int32, 0x0D = float32,
      /// 0x0E = float64).
      TypeCode: byte
      /// The element bytes exactly as stored (big-endian for multi-byte types), row-major.
      Data: byte[] }

    /// The number of elements.
    member a.Count = a.Shape |> Array.fold (fun acc d -> acc * int64 d) 1L |> int

    /// Element i converted to float.
    member a.Item (i: int) : float =
        match a.TypeCode with
        | 0x08uy -> float a.Data.[i]
        | 0x09uy -> float (sbyte a.Data.[i])
        | 0x0Buy -> float (BinaryPrimitives.ReadInt16BigEndian (ReadOnlySpan (a.Data, 2 * i, 2)))
        | 0x0Cuy -> float (BinaryPrimitives.ReadInt32BigEndian (ReadOnlySpan (a.Data, 4 * i, 4)))
        | 0x0Duy -> float (BinaryPrimitives.ReadSingleBigEndian (ReadOnlySpan (a.Data, 4 * i, 4)))
        | _ -> BinaryPrimitives.ReadDoubleBigEndian (ReadOnlySpan (a.Data, 8 * i, 8))

/// Reading IDX files.
[<RequireQualifiedAccess>]
module Idx =

    let private elementSize (typeCode: byte) =
        match typeCode with
        | 0x08uy | 0x09uy -> Some 1
        | 0x0Buy -> Some 2
        | 0x0Cuy | 0x0Duy -> Some 4
        | 0x0Euy -> Some 8
        | _ -> None

    /// Reads up to `count` bytes; returns how many were read (fewer only at the end of the stream).
    let private readUpTo (stream: Stream) (buffer: byte[]) (offset: int) (count: int) =
        let mutable total = 0
        let mutable finished = false
        while not finished && total < count do
            let n = stream.Read (buffer, offset + total, count - total)
            if n = 0 then finished <- true else total <- total + n
        total

    /// Reads an IDX array from a stream of the uncompressed bytes; `file` names the source in errors. The declared
    /// size is checked against the bytes that actually follow before the data is kept whole: the data is read in
    /// 1 MiB pieces, so a corrupt dimension cannot allocate more memory than the file really holds.
    let readStream (file: string) (stream: Stream) : IdxArray =
        let head = Array.zeroCreate<byte> 4
        let got = readUpTo stream head 0 4
        if got < 4 then Malformed.at file (int64 got) "truncated IDX header (4 bytes of magic expected)"
        if head.[0] <> 0uy || head.[1] <> 0uy then
            Malformed.at file 0L $"not an IDX file: the magic must start with two zero bytes, found 0x{head.[0]:X2} 0x{head.[1]:X2}"
        let size =
            match elementSize head.[2] with
            | Some s -> s
            | None -> Malformed.at file 2L $"unknown IDX element type 0x{head.[2]:X2}"
        let rank = int head.[3]
        if rank = 0 then Malformed.at file 3L "an IDX array needs at least one dimension"
        let dimBytes = Array.zeroCreate<byte> (4 * rank)
        let got = readUpTo stream dimBytes 0 dimBytes.Length
        if got < dimBytes.Length then Malformed.at file (int64 (4 + got)) $"truncated IDX header: {rank} dimensions declared"
        let shape =
            Array.init rank (fun k ->
                let d = BinaryPrimitives.ReadUInt32BigEndian (ReadOnlySpan (dimBytes, 4 * k, 4))
                if d > uint32 Int32.MaxValue then Malformed.at file (int64 (4 + 4 * k)) $"dimension {k} is {d}, too large"
                int d)
        // In floating point: 255 dimensions of 2^31 overflow every integer type (and give +infinity here).
        let declared = shape |> Array.fold (fun acc d -> acc * float d) (float size)
        let dataStart = int64 (4 + 4 * rank)
        if declared > float Array.MaxLength then
            Malformed.at file dataStart $"the shape %A{shape} declares {declared} bytes, more than one array can hold"
        // Readers widen the bytes to float32 frames: refuse a header (a gzip bomb) whose data would not fit the budget.
        if declared * 4.0 > Snn.Limits.MaxMemoryBytes then
            Malformed.at file dataStart $"the shape %A{shape} declares {declared} bytes; as float32 that exceeds the memory budget of {Snn.Limits.MaxMemoryBytes / Snn.Limits.GiB:G3} GiB (--max-memory)"
        let expected = int declared
        // Grow the buffer with the data actually present; allocate the full size only once it has been seen.
        let pieces = Collections.Generic.List<byte[]>()
        let mutable total = 0
        let mutable finished = false
        while not finished && total < expected do
            let piece = Array.zeroCreate<byte> (min (1 <<< 20) (expected - total))
            let n = readUpTo stream piece 0 piece.Length
            if n > 0 then pieces.Add (if n = piece.Length then piece else piece.[.. n - 1])
            total <- total + n
            if n < piece.Length then finished <- true
        if total < expected then
            Malformed.at file (dataStart + int64 total) $"truncated data: the shape %A{shape} needs {expected} bytes, only {total} follow the header"
        let extra = Array.zeroCreate<byte> 1
        if readUpTo stream extra 0 1 > 0 then
            Malformed.at file (dataStart + int64 expected) $"trailing bytes after the {expected} bytes of data the shape %A{shape} declares"
        let data = Array.zeroCreate<byte> expected
        let mutable at = 0
        for p in pieces do
            Buffer.BlockCopy (p, 0, data, at, p.Length)
            at <- at + p.Length
        { Shape = shape; TypeCode = head.[2]; Data = data }

    /// Reads bytes of an IDX file, gunzipping them first when they start with the gzip magic (0x1F 0x8B).
    let parse (file: string) (bytes: byte[]) : IdxArray =
        if bytes.Length >= 2 && bytes.[0] = 0x1Fuy && bytes.[1] = 0x8Buy then
            use gz = new GZipStream (new MemoryStream (bytes), CompressionMode.Decompress)
            try readStream file gz
            with
            | :? InvalidDataException as e when not (e.Message.StartsWith file) ->
                Malformed.at file 0L $"corrupt gzip stream: {e.Message}"
        else
            use ms = new MemoryStream (bytes)
            readStream file ms

    /// Reads an IDX file (plain or `.gz`).
    let read (path: string) : IdxArray = parse path (Malformed.readAll path)
