/// An HDF5 file as a plain tree of groups and typed datasets, read and written with PureHDF (pure .NET).
/// NetX and NIR files are both such trees; keeping each dataset's element type lets a file that is read and
/// written back keep the types other tools expect (int64 scalars, float32 weights, strings).
namespace Snn.Loihi

open System
open System.IO
open PureHDF

/// The elements of a dataset, with the HDF5 element type they are stored as.
type H5Values =
    /// 64-bit signed integers (H5T_STD_I64LE); narrower integer types are widened on reading.
    | Int64s of int64[]
    /// 32-bit floats (H5T_IEEE_F32LE).
    | Float32s of float32[]
    /// 64-bit floats (H5T_IEEE_F64LE).
    | Float64s of float[]
    /// Strings (written variable-length UTF-8; fixed-length strings are read into the same case).
    | Strings of string[]
    /// An 8-bit enumeration {FALSE = 0, TRUE = 1} (h5py's boolean).
    | Bools of bool[]

    /// The number of elements.
    member v.Count =
        match v with
        | Int64s a -> a.Length
        | Float32s a -> a.Length
        | Float64s a -> a.Length
        | Strings a -> a.Length
        | Bools a -> a.Length

    /// The elements as floats (strings are refused with an InvalidOperationException).
    member v.AsFloats : float[] =
        match v with
        | Int64s a -> a |> Array.map float
        | Float32s a -> a |> Array.map float
        | Float64s a -> a
        | Bools a -> a |> Array.map (fun b -> if b then 1.0 else 0.0)
        | Strings _ -> invalidOp "string elements have no numeric value"

/// A dataset: its shape (empty for a scalar) and its elements in row-major order.
type H5Data =
    { /// Dimensions, outermost first; empty for a scalar dataspace.
      Shape: int64[]
      /// The elements.
      Values: H5Values }

/// A node of the tree.
type H5Node =
    /// A group of named children (kept sorted by name, as HDF5 lists links).
    | Group of Map<string, H5Node>
    /// A dataset.
    | Dataset of H5Data

/// Reading and writing trees.
[<RequireQualifiedAccess>]
module Hdf5Tree =

    /// An enumeration written as an HDF5 enum {FALSE = 0, TRUE = 1} with h5py's member names. h5py stores numpy
    /// booleans over int8; PureHDF 2.2 can only write enums over uint8 (an int8-based enum fails with an invalid
    /// cast), so the base type differs while names and values agree. Lava's loader ignores gradedSpike.
    type GradedFlag =
        /// false
        | FALSE = 0uy
        /// true
        | TRUE = 1uy

    let private invalid (file: string) (key: string) (message: string) =
        raise (InvalidDataException ($"{file}: {key}: {message}"))

    let private readDataset (file: string) (key: string) (ds: IH5Dataset) : H5Data =
        let shape =
            if ds.Space.Type = H5DataspaceType.Scalar then [||]
            else ds.Space.Dimensions |> Array.map int64
        let t = ds.Type
        // A corrupt dimension must not make us allocate gigabytes: the elements (at most 8 bytes each in memory,
        // a string reference 16) must fit the file 256 times over (room for compression) and the memory budget.
        let elements = shape |> Array.fold (fun acc d -> acc * float d) 1.0
        let fileLength = float (FileInfo(file).Length)
        let bytes = elements * (if t.Class = H5DataTypeClass.String || t.Class = H5DataTypeClass.VariableLength then 16.0 else 8.0)
        if bytes > 256.0 * fileLength + 4096.0 || bytes > Snn.Limits.MaxMemoryBytes || elements > float Array.MaxLength then
            invalid file key $"declares {elements} elements, impossible in a file of {fileLength} bytes"
        let values =
            match t.Class with
            | H5DataTypeClass.FloatingPoint when t.Size = 4 -> Float32s (ds.Read<float32[]> ())
            | H5DataTypeClass.FloatingPoint when t.Size = 8 -> Float64s (ds.Read<float[]> ())
            | H5DataTypeClass.FixedPoint ->
                let signed = t.FixedPoint.IsSigned
                match t.Size, signed with
                | 8, true -> Int64s (ds.Read<int64[]> ())
                | 8, false -> Int64s (ds.Read<uint64[]> () |> Array.map int64)
                | 4, true -> Int64s (ds.Read<int32[]> () |> Array.map int64)
                | 4, false -> Int64s (ds.Read<uint32[]> () |> Array.map int64)
                | 2, true -> Int64s (ds.Read<int16[]> () |> Array.map int64)
                | 2, false -> Int64s (ds.Read<uint16[]> () |> Array.map int64)
                | 1, true -> Int64s (ds.Read<sbyte[]> () |> Array.map int64)
                | 1, false -> Int64s (ds.Read<byte[]> () |> Array.map int64)
                | size, _ -> invalid file key $"unsupported integer size {size} bytes"
            | H5DataTypeClass.String
            | H5DataTypeClass.VariableLength -> Strings (ds.Read<string[]> () |> Array.map (fun s -> if isNull s then "" else s.TrimEnd '\000'))
            | H5DataTypeClass.Enumerated -> Bools (ds.Read<GradedFlag[]> () |> Array.map (fun f -> f = GradedFlag.TRUE))
            | other -> invalid file key $"unsupported HDF5 element type {other}"
        { Shape = shape; Values = values }

    /// The deepest group nesting a file may have. NetX and NIR trees are a handful of levels deep; deeper nesting
    /// only arises from a link cycle (a soft or hard link to the group itself, a parent or `/`).
    let maxDepth = 32

    /// The most objects (groups and datasets) a file may hold: a bound on the work a link cycle that branches (two
    /// links to `/` per group) can cause within `maxDepth` levels.
    let maxObjects = 200_000

    /// Reads a group recursively. PureHDF gives no object identity, so cycles are caught by the depth limit and
    /// branching cycles by the object budget, each as an InvalidDataException naming the key.
    let rec private readGroupAt (file: string) (prefix: string) (depth: int) (budget: int ref) (group: IH5Group) : H5Node =
        if depth > maxDepth then
            let shown = if prefix.Length > 60 then prefix.Substring (0, 60) + "..." else prefix
            invalid file shown $"groups nest deeper than {maxDepth} levels (a link cycle: a soft or hard link to this group, a parent or '/')"
        group.Children ()
        |> Seq.map (fun child ->
            let key = prefix + "/" + child.Name
            budget.Value <- budget.Value - 1
            if budget.Value < 0 then invalid file key $"the file holds more than {maxObjects} objects (a link cycle?)"
            match child with
            | :? IH5Group as g -> child.Name, readGroupAt file key (depth + 1) budget g
            | :? IH5Dataset as d -> child.Name, Dataset (readDataset file key d)
            | :? IH5UnresolvedLink as l -> invalid file key (Snn.Data.Hdf5Links.unresolved l)
            | _ -> invalid file key "is neither a group nor a dataset")
        |> Map.ofSeq
        |> Group

    let private readGroup (file: string) (prefix: string) (group: IH5Group) : H5Node =
        readGroupAt file prefix 0 (ref maxObjects) group

    /// Reads a whole file. Raises InvalidDataException naming the file (and the key) when it is not HDF5 or
    /// holds an element type this reader does not handle.
    let read (path: string) : H5Node =
        if Directory.Exists path then raise (IOException $"{path}: is a folder, not a file")
        if not (File.Exists path) then raise (FileNotFoundException ($"{path}: no such file", path))
        // PureHDF reads through a stack guard: its own soft-link resolution has no cycle check (see StackGuardStream).
        let file =
            try H5File.Open (new Snn.Data.StackGuardStream (File.OpenRead path, true), false, H5ReadOptions ())
            with e -> invalid path "/" $"not an HDF5 file ({e.Message})"
        use _ = file
        try readGroup path "" file
        with
        | :? InvalidDataException -> reraise ()
        | :? InsufficientExecutionStackException -> invalid path "/" "links nest without end (a soft link to itself or to a parent group)"
        | e -> invalid path "/" e.Message

    let private toObject (data: H5Data) : obj =
        let dims = data.Shape |> Array.map uint64
        let scalar = data.Shape.Length = 0
        let dataset (values: obj) (first: obj) : obj =
            if scalar then first else box (H5Dataset (values, fileDims = dims))
        match data.Values with
        | Int64s a -> dataset (box a) (if scalar then box a.[0] else null)
        | Float32s a -> dataset (box a) (if scalar then box a.[0] else null)
        | Float64s a -> dataset (box a) (if scalar then box a.[0] else null)
        | Strings a -> dataset (box a) (if scalar then box a.[0] else null)
        | Bools a ->
            let flags = a |> Array.map (fun b -> if b then GradedFlag.TRUE else GradedFlag.FALSE)
            dataset (box flags) (if scalar then box flags.[0] else null)

    let rec private toGroup (children: Map<string, H5Node>) (group: H5Group) =
        for KeyValue (name, node) in children do
            match node with
            | Group c ->
                let g = H5Group ()
                toGroup c g
                group.[name] <- g
            | Dataset d -> group.[name] <- toObject d

    let private writeWith (options: H5WriteOptions) (path: string) (root: H5Node) : unit =
        match root with
        | Dataset _ -> invalidArg "root" "the root of an HDF5 file must be a group"
        | Group children ->
            let file = H5File ()
            toGroup children file
            let temporary = path + ".tmp"
            file.Write (temporary, options)
            File.Move (temporary, path, true)

    /// Writes a tree (whose root must be a group) to `path`, under a temporary name first, then renamed. Strings
    /// are variable-length UTF-8.
    let write (path: string) (root: H5Node) : unit = writeWith (H5WriteOptions ()) path root

    /// Writes a tree like `write`, but every string as a fixed-length string of `length` bytes (numpy's
    /// 'S<length>'; PureHDF marks it NUL-terminated where h5py writes NUL-padded, which readers treat alike).
    /// PureHDF chooses the string width per file, not per dataset. Raises ArgumentException when a string needs
    /// `length` bytes or more.
    let writeFixedStrings (length: int) (path: string) (root: H5Node) : unit =
        if length <= 0 then invalidArg "length" $"must be positive, got {length}"
        let rec check (key: string) (node: H5Node) =
            match node with
            | Group c -> for KeyValue (name, child) in c do check (key + "/" + name) child
            | Dataset { Values = Strings values } ->
                for v in values do
                    // PureHDF marks fixed-length strings NUL-terminated, so one byte stays free for the NUL.
                    if Text.Encoding.UTF8.GetByteCount v >= length then invalidArg "root" $"{key}: '{v}' needs {length} bytes or more; at most {length - 1} fit with the NUL"
            | Dataset _ -> ()
        check "" root
        writeWith (H5WriteOptions (DefaultStringLength = length)) path root

    /// The child `name` of a group node, or None.
    let tryChild (name: string) (node: H5Node) : H5Node option =
        match node with
        | Group c -> Map.tryFind name c
        | Dataset _ -> None

    /// A scalar or one-element dataset.
    let scalar (values: H5Values) : H5Data = { Shape = [||]; Values = values }

    /// A one-dimensional dataset.
    let vector (values: H5Values) : H5Data = { Shape = [| int64 values.Count |]; Values = values }
