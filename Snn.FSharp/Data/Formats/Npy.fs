/// NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), read and written without NumPy.
///
/// Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length (u16 little-endian in
/// version 1, u32 in versions 2 and 3), then an ASCII Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces to a multiple of 64 bytes and
/// ended by a newline, then the raw array data. Reference: numpy/lib/format.py (NEP 1).
namespace Snn.Data

open System
open System.IO
open System.Text
open System.Text.RegularExpressions

/// An n-dimensional array read from a `.npy` file, in C (row-major) order.
type NpyArray =
    { /// Dimensions, outermost first; empty for a scalar.
      Shape: int64[]
      /// NumPy type string, e.g. `<f4`, `<i8`, `|b1`.
      Descr: string
      /// Element values converted to float (exact for every integer type up to 2^53).
      Values: float[] }

    /// The number of elements.
    member a.Count = a.Values.Length

/// Reading and writing `.npy` files.
[<RequireQualifiedAccess>]
module Npy =

    let private magic = [| 0x93uy; byte 'N'; byte 'U'; byte 'M'; byte 'P'; byte 'Y' |]

    let private invalid (file: string) (offset: int64) (message: string) =
        raise (InvalidDataException($"{file}: byte {offset}: {message}"))

    /// Element size in bytes and a decoder for the supported little-endian and byte-sized types.
    let private decoder (file: string) (offset: int64) (descr: string) : int * (byte[] -> int -> float) =
        match descr with
        | "<f4" -> 4, fun b i -> float (BitConverter.ToSingle (b, i))
        | "<f8" -> 8, fun b i -> BitConverter.ToDouble (b, i)
        | "<i2" -> 2, fun b i -> float (BitConverter.ToInt16 (b, i))
        | "<u2" -> 2, fun b i -> float (BitConverter.ToUInt16 (b, i))
        | "<i4" -> 4, fun b i -> float (BitConverter.ToInt32 (b, i))
        | "<u4" -> 4, fun b i -> float (BitConverter.ToUInt32 (b, i))
        | "<i8" -> 8, fun b i -> float (BitConverter.ToInt64 (b, i))
        | "<u8" -> 8, fun b i -> float (BitConverter.ToUInt64 (b, i))
        | "|i1" -> 1, fun b i -> float (sbyte b.[i])
        | "|u1" | "|b1" -> 1, fun b i -> float b.[i]
        | other -> invalid file offset $"unsupported dtype '{other}' (supported: <f4 <f8 <i2 <u2 <i4 <u4 <i8 <u8 |i1 |u1 |b1)"

    /// Parses the header dict; returns (descr, fortranOrder, shape).
    let private parseHeader (file: string) (offset: int64) (header: string) =
        let field (name: string) (pattern: string) =
            let m = Regex.Match (header, "'" + name + "'\\s*:\\s*" + pattern)
            if not m.Success then invalid file offset $"the header has no valid '{name}' entry: {header.Trim ()}"
            m.Groups.[1].Value
        let descr = field "descr" "'([^']*)'"
        let fortran = field "fortran_order" "(True|False)" = "True"
        let shapeText = field "shape" "\\(([^)]*)\\)"
        let shape =
            shapeText.Split (',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
            |> Array.map (fun d ->
                match Int64.TryParse d with
                | true, n when n >= 0L -> n
                | _ -> invalid file offset $"the shape entry '{d}' is not a non-negative integer")
        descr, fortran, shape

    /// Reads a `.npy` file. Raises InvalidDataException naming the file and the byte offset of the first problem.
    let read (path: string) : NpyArray =
        let bytes = File.ReadAllBytes path
        if bytes.Length < 10 || bytes.[0..5] <> magic then invalid path 0L "not a NumPy .npy file (magic \\x93NUMPY missing)"
        let major = bytes.[6]
        let headerLength, headerStart =
            match major with
            | 1uy -> int (BitConverter.ToUInt16 (bytes, 8)), 10
            | 2uy | 3uy when bytes.Length >= 12 -> int (BitConverter.ToUInt32 (bytes, 8)), 12
            | v -> invalid path 6L $"unsupported .npy format version {v}"
        if headerLength < 0 || int64 headerStart + int64 headerLength > int64 bytes.Length then
            invalid path 8L $"the header length {headerLength} runs past the end of the file ({bytes.Length} bytes)"
        let header = Encoding.UTF8.GetString (bytes, headerStart, headerLength)
        let descr, fortran, shape = parseHeader path (int64 headerStart) header
        let size, decode = decoder path (int64 headerStart) descr
        let dataStart = headerStart + headerLength
        // Multiply with an overflow check: an absurd declared shape must be reported, not wrap around.
        let available = int64 (bytes.Length - dataStart)
        let count =
            shape |> Array.fold (fun acc d ->
                if d <> 0L && acc > available / d then
                    invalid path (int64 dataStart) $"shape %A{shape} of {descr} needs more than the {available} bytes that follow the header"
                acc * d) 1L
        if count * int64 size > available then
            invalid path (int64 dataStart) $"shape %A{shape} of {descr} needs {count * int64 size} bytes but {available} follow the header"
        let raw = Array.init (int count) (fun i -> decode bytes (dataStart + i * size))
        let values =
            if not fortran || shape.Length < 2 then raw
            else
                // Fortran order: the first index varies fastest. Reorder to C order.
                let dims = shape |> Array.map int
                let n = dims.Length
                let cStrides = Array.init n (fun k -> dims.[k + 1 ..] |> Array.fold (*) 1)
                let fStrides = Array.init n (fun k -> dims.[.. k - 1] |> Array.fold (*) 1)
                Array.init raw.Length (fun c ->
                    let mutable f = 0
                    for k in 0 .. n - 1 do
                        f <- f + (c / cStrides.[k] % dims.[k]) * fStrides.[k]
                    raw.[f])
        { Shape = shape; Descr = descr; Values = values }

    let private headerBytes (descr: string) (shape: int64[]) =
        let dims =
            match shape with
            | [| d |] -> $"{d},"
            | _ -> String.Join (", ", shape)
        let dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}"
        let unpadded = 10 + dict.Length + 1
        let padding = (64 - unpadded % 64) % 64
        Encoding.ASCII.GetBytes (dict + String (' ', padding) + "\n")

    /// Writes an array in C order with the given dtype (`<f4`, `<f8`, `<i4`, `<i8`, `|u1` or `|b1`), atomically:
    /// the file is written under a temporary name and renamed, so a reader never sees half a file.
    let write (path: string) (descr: string) (shape: int64[]) (values: float[]) : unit =
        let count = shape |> Array.fold (fun acc d -> acc * d) 1L
        if count <> int64 values.Length then
            invalidArg "values" $"has {values.Length} elements but the shape %A{shape} holds {count}"
        let encode: float -> byte[] =
            match descr with
            | "<f4" -> fun v -> BitConverter.GetBytes (float32 v)
            | "<f8" -> fun v -> BitConverter.GetBytes v
            | "<i4" -> fun v -> BitConverter.GetBytes (int32 v)
            | "<i8" -> fun v -> BitConverter.GetBytes (int64 v)
            | "|u1" | "|b1" -> fun v -> [| byte v |]
            | other -> invalidArg "descr" $"unsupported dtype '{other}' (supported: <f4 <f8 <i4 <i8 |u1 |b1)"
        let header = headerBytes descr shape
        let temporary = $"{path}.{Guid.NewGuid ():N}.tmp" // unique: concurrent writers of one path never collide
        do
            use stream = File.Create temporary
            stream.Write (magic, 0, magic.Length)
            stream.WriteByte 1uy
            stream.WriteByte 0uy
            stream.Write (BitConverter.GetBytes (uint16 header.Length), 0, 2)
            stream.Write (header, 0, header.Length)
            for v in values do
                let b = encode v
                stream.Write (b, 0, b.Length)
        File.Move (temporary, path, true)
