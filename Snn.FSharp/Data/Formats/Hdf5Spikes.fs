/// Reading spike datasets from HDF5 files with PureHDF, turning every malformed-file failure into an
/// InvalidDataException that names the file and the HDF5 object.
namespace Snn.Data

open System
open System.IO
open PureHDF
open PureHDF.VOL.Native

/// A read-only view of a stream that refuses to read when the calling thread is close to the end of its stack.
/// PureHDF resolves soft links recursively without a cycle check, so a link to itself recursed until the process died
/// of a stack overflow (which .NET cannot catch). Every step of that recursion reads the file through this stream,
/// which turns the overflow into an `InsufficientExecutionStackException` that unwinds normally. Disposing it
/// disposes `inner` when `owned`.
type StackGuardStream (inner: Stream, owned: bool) =
    inherit Stream ()
    let check () = Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack ()
    /// Whether the inner stream reads.
    override _.CanRead = inner.CanRead
    /// Whether the inner stream seeks.
    override _.CanSeek = inner.CanSeek
    /// Never: the view is read-only.
    override _.CanWrite = false
    /// The inner stream's length.
    override _.Length = inner.Length
    /// The inner stream's position (setting it checks the stack).
    override _.Position with get () = inner.Position and set v = check (); inner.Position <- v
    /// Nothing to flush.
    override _.Flush () = ()
    /// Reads after checking the stack.
    override _.Read (buffer: byte[], offset: int, count: int) = check (); inner.Read (buffer, offset, count)
    /// Reads after checking the stack.
    override _.Read (buffer: Span<byte>) = check (); inner.Read buffer
    /// Seeks after checking the stack.
    override _.Seek (offset: int64, origin: SeekOrigin) = check (); inner.Seek (offset, origin)
    /// Refused: read-only.
    override _.SetLength _ = raise (NotSupportedException "read-only")
    /// Refused: read-only.
    override _.Write (_: byte[], _: int, _: int) = raise (NotSupportedException "read-only")
    /// Disposes the inner stream when owned.
    override _.Dispose (disposing: bool) = if disposing && owned then inner.Dispose ()

/// Links that PureHDF could not follow.
[<RequireQualifiedAccess>]
module Hdf5Links =
    /// Why a link did not resolve, on one line: a link cycle (PureHDF ran out of stack following it) or PureHDF's
    /// own reason.
    let unresolved (link: IH5UnresolvedLink) : string =
        match link.Reason with
        | :? InsufficientExecutionStackException -> "a soft link cycle (the link leads back to itself)"
        | null -> "a link that does not resolve"
        | e -> $"a link that does not resolve ({e.Message.Split('\n').[0].Trim ()})"

module internal Hdf5Spikes =

    /// Raises InvalidDataException "FILE: HDF5 object PATH: MESSAGE" (HDF5 errors have no single byte offset:
    /// the object path is what locates them).
    let invalidObject (file: string) (objectPath: string) (message: string) : 'a =
        raise (InvalidDataException($"{file}: HDF5 object '{objectPath}': {message}"))

    /// Runs a read, converting the exceptions PureHDF raises on corrupt input (index, overflow, format, argument
    /// errors, and a refused huge allocation) into InvalidDataException.
    let guarded (file: string) (objectPath: string) (read: unit -> 'a) : 'a =
        try read () with
        | :? InvalidDataException -> reraise ()
        | :? OperationCanceledException -> reraise ()
        | :? InsufficientExecutionStackException ->
            invalidObject file objectPath "links nest without end (a soft link to itself or to a parent group)"
        | e -> invalidObject file objectPath $"malformed HDF5 ({e.GetType().Name}: {e.Message})"

    let private gate = obj ()

    /// Runs a whole HDF5 read under one process-wide lock. Parsing corrupt files on several threads at once made
    /// PureHDF 2.2 hang in our fuzz tests (one thread at a time never did), so reads are serialised.
    let serialized (read: unit -> 'a) : 'a = lock gate read

    /// Opens an HDF5 file from a stream (left open). Raises InvalidDataException when it is not HDF5.
    let openStream (file: string) (stream: Stream) : NativeFile =
        guarded file "/" (fun () -> H5File.Open (new StackGuardStream (stream, false), false, H5ReadOptions ()))

    /// Opens a dataset and checks that its declared size fits in the file: `bytesPerElement` × elements must not
    /// exceed 256 × the file length (room for compression), so that a corrupt dimension cannot make us allocate
    /// gigabytes.
    let dataset (file: string) (fileLength: int64) (h5: NativeFile) (objectPath: string) : IH5Dataset =
        guarded file objectPath (fun () ->
            if not (h5.LinkExists objectPath) then invalidObject file objectPath "missing"
            let ds =
                match h5.Get objectPath with
                | :? IH5Dataset as d -> d
                | :? IH5UnresolvedLink as l -> invalidObject file objectPath (Hdf5Links.unresolved l)
                | :? IH5Group -> invalidObject file objectPath "is a group, not a dataset"
                | other -> invalidObject file objectPath $"is a {other.GetType().Name}, not a dataset"
            let dims = ds.Space.Dimensions
            if dims.Length <> 1 then invalidObject file objectPath $"expected a one-dimensional dataset, found rank {dims.Length}"
            let elementBytes =
                match ds.Type.Class with
                | H5DataTypeClass.VariableLength -> 16.0 // a global-heap reference per element
                | _ -> float (max 1 ds.Type.Size)
            if float dims.[0] * elementBytes > 256.0 * float fileLength then
                invalidObject file objectPath $"declares {dims.[0]} elements, impossible in a file of {fileLength} bytes"
            ds)

    /// The element count of a one-dimensional dataset.
    let length (ds: IH5Dataset) : int = int ds.Space.Dimensions.[0]

    /// Reads a one-dimensional numeric dataset (integers or floats of any width) as float.
    let readNumbers (file: string) (objectPath: string) (ds: IH5Dataset) : float[] =
        guarded file objectPath (fun () ->
            let t = ds.Type
            match t.Class, t.Size with
            | H5DataTypeClass.FloatingPoint, 2 -> ds.Read<Half[]> () |> Array.map (fun v -> float (float32 v))
            | H5DataTypeClass.FloatingPoint, 4 -> ds.Read<float32[]> () |> Array.map float
            | H5DataTypeClass.FloatingPoint, 8 -> ds.Read<float[]> ()
            | H5DataTypeClass.FixedPoint, size ->
                match size, t.FixedPoint.IsSigned with
                | 1, false -> ds.Read<byte[]> () |> Array.map float
                | 1, true -> ds.Read<sbyte[]> () |> Array.map float
                | 2, false -> ds.Read<uint16[]> () |> Array.map float
                | 2, true -> ds.Read<int16[]> () |> Array.map float
                | 4, false -> ds.Read<uint32[]> () |> Array.map float
                | 4, true -> ds.Read<int32[]> () |> Array.map float
                | 8, false -> ds.Read<uint64[]> () |> Array.map float
                | 8, true -> ds.Read<int64[]> () |> Array.map float
                | _ -> invalidObject file objectPath $"unsupported integer size {size}"
            | c, s -> invalidObject file objectPath $"expected numbers, found {c} of {s} bytes")

    /// Reads a one-dimensional dataset of variable-length numeric sequences (h5py's `vlen_dtype`) as float arrays.
    let readSequences (file: string) (objectPath: string) (ds: IH5Dataset) : float[][] =
        guarded file objectPath (fun () ->
            if ds.Type.Class <> H5DataTypeClass.VariableLength then
                invalidObject file objectPath $"expected variable-length sequences, found {ds.Type.Class}"
            let b = ds.Type.VariableLength.BaseType
            let rows (read: unit -> 'r[][]) (convert: 'r -> float) : float[][] =
                read () |> Array.map (fun row -> if isNull row then [||] else Array.map convert row)
            match b.Class, b.Size with
            | H5DataTypeClass.FloatingPoint, 2 -> rows (fun () -> ds.Read<Half[][]> ()) (fun v -> float (float32 v))
            | H5DataTypeClass.FloatingPoint, 4 -> rows (fun () -> ds.Read<float32[][]> ()) float
            | H5DataTypeClass.FloatingPoint, 8 -> rows (fun () -> ds.Read<float[][]> ()) id
            | H5DataTypeClass.FixedPoint, size ->
                match size, b.FixedPoint.IsSigned with
                | 1, false -> rows (fun () -> ds.Read<byte[][]> ()) float
                | 1, true -> rows (fun () -> ds.Read<sbyte[][]> ()) float
                | 2, false -> rows (fun () -> ds.Read<uint16[][]> ()) float
                | 2, true -> rows (fun () -> ds.Read<int16[][]> ()) float
                | 4, false -> rows (fun () -> ds.Read<uint32[][]> ()) float
                | 4, true -> rows (fun () -> ds.Read<int32[][]> ()) float
                | 8, false -> rows (fun () -> ds.Read<uint64[][]> ()) float
                | 8, true -> rows (fun () -> ds.Read<int64[][]> ()) float
                | _ -> invalidObject file objectPath $"unsupported integer size {size}"
            | c, s -> invalidObject file objectPath $"expected numeric sequences, found {c} of {s} bytes")

    /// Reads a one-dimensional dataset of strings (fixed or variable length).
    let readStrings (file: string) (objectPath: string) (ds: IH5Dataset) : string[] =
        guarded file objectPath (fun () ->
            if ds.Type.Class <> H5DataTypeClass.String && ds.Type.Class <> H5DataTypeClass.VariableLength then
                invalidObject file objectPath $"expected strings, found {ds.Type.Class}"
            ds.Read<string[]> ())

    /// Converts spike times in seconds to whole microseconds; rejects NaN, negative or absurd (> 10^6 s) times.
    let toMicroseconds (file: string) (objectPath: string) (seconds: float[]) : int64[] =
        seconds |> Array.mapi (fun i s ->
            if not (s >= 0.0 && s <= 1e6) then invalidObject file objectPath $"spike {i}: time {s} s is not in [0, 10^6] s"
            int64 (Math.Round (s * 1e6)))

    /// Converts channel numbers to int16, checking 0 ≤ c < channels and that they are whole numbers.
    let toChannels (file: string) (objectPath: string) (channels: int) (values: float[]) : int16[] =
        values |> Array.mapi (fun i c ->
            if not (c >= 0.0 && c < float channels && c = Math.Floor c) then
                invalidObject file objectPath $"spike {i}: channel {c} is not an integer in [0, {channels})"
            int16 c)
