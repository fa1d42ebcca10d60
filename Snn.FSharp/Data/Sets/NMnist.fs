/// N-MNIST (Orchard et al. 2015): MNIST digits recorded by an ATIS camera moved along three saccades.
///
/// File layout (`.bin`, one recording per file): a sequence of 40-bit events, 5 bytes each, no header.
///   byte 0: x (0..33)            byte 1: y (0..33)
///   byte 2: bit 7 = polarity (1 = ON, 0 = OFF), bits 6..0 = timestamp bits 22..16
///   byte 3: timestamp bits 15..8 byte 4: timestamp bits 7..0         (timestamp in microseconds)
/// An event whose y byte is 240 is not an event but a timestamp-overflow marker: every later timestamp is
/// increased by 2^13 µs and the marker is dropped (the convention of the dataset's own reader and of Tonic).
/// Folder layout: `Train/<digit>/<nnnnn>.bin` and `Test/<digit>/<nnnnn>.bin`, the folder name being the label.
[<RequireQualifiedAccess>]
module Snn.Data.NMnist

open System
open System.IO

/// Sensor width in pixels.
let width = 34
/// Sensor height in pixels.
let height = 34

/// The y byte that marks a timestamp overflow instead of an event.
let private overflowMarker = 240uy

/// Decodes the bytes of one `.bin` file; `file` names the source in error messages. Raises InvalidDataException
/// (naming file and byte offset) for a truncated event or a coordinate off the 34x34 sensor.
let parse (file: string) (bytes: byte[]) : CameraEvents =
    if bytes.Length % 5 <> 0 then
        Malformed.at file (int64 (bytes.Length - bytes.Length % 5))
            $"truncated event: the file has {bytes.Length} bytes, not a multiple of the 5-byte event size"
    let records = bytes.Length / 5
    let xs = Array.zeroCreate<int16> records
    let ys = Array.zeroCreate<int16> records
    let ts = Array.zeroCreate<int64> records
    let ps = Array.zeroCreate<bool> records
    let mutable count = 0
    let mutable overflow = 0L
    for r in 0 .. records - 1 do
        let o = 5 * r
        if bytes.[o + 1] = overflowMarker then overflow <- overflow + (1L <<< 13)
        else
            let x, y = int bytes.[o], int bytes.[o + 1]
            if x >= width || y >= height then
                Malformed.at file (int64 o) $"event {r}: ({x}, {y}) lies outside the {width}x{height} sensor"
            xs.[count] <- int16 x
            ys.[count] <- int16 y
            ps.[count] <- bytes.[o + 2] &&& 0x80uy <> 0uy
            ts.[count] <- overflow + ((int64 (bytes.[o + 2] &&& 0x7Fuy) <<< 16) ||| (int64 bytes.[o + 3] <<< 8) ||| int64 bytes.[o + 4])
            count <- count + 1
    { Width = width; Height = height; X = xs.[.. count - 1]; Y = ys.[.. count - 1]; T = ts.[.. count - 1]; P = ps.[.. count - 1] }
    |> Events.sortByTime

/// Reads one `.bin` recording.
let read (path: string) : CameraEvents = parse path (Malformed.readAll path)

/// The recordings of a split below the dataset root (`Train` or `Test`), as (path, label) sorted by label then
/// file name. Raises DirectoryNotFoundException when the split folder is missing.
let files (root: string) (train: bool) : (string * int)[] =
    let split = Path.Combine (root, (if train then "Train" else "Test"))
    if not (Directory.Exists split) then
        raise (DirectoryNotFoundException($"{split}: N-MNIST split folder not found (expected {root}/Train/0..9/*.bin and {root}/Test/0..9/*.bin)"))
    [| for digit in 0 .. 9 do
        let folder = Path.Combine (split, string digit)
        if Directory.Exists folder then
            for file in Directory.GetFiles (folder, "*.bin") |> Array.sort do
                yield file, digit |]

/// Reads every recording of a split as labelled samples (lazily, one file at a time).
let samples (root: string) (train: bool) : seq<CameraSample> =
    files root train |> Seq.map (fun (path, label) -> { Events = read path; Label = label })

/// The largest timestamp one event record holds: 23 bits of microseconds.
let private timestampLimit = 1L <<< 23

/// Encodes a recording as the bytes of a `.bin` file (the inverse of `parse`): one 5-byte record per event in time
/// order; a timestamp that does not fit the record's 23 bits is written after overflow markers (y byte 240), each
/// adding 2^13 µs to every later timestamp, as the reader expects. Raises ArgumentException for an event off the
/// 34x34 sensor or a negative timestamp.
let encode (events: CameraEvents) : byte[] =
    let sorted = Events.sortByTime events
    let out = Collections.Generic.List<byte> (5 * sorted.X.Length)
    let mutable offset = 0L
    for i in 0 .. sorted.X.Length - 1 do
        let x, y, t = int sorted.X.[i], int sorted.Y.[i], sorted.T.[i]
        if x < 0 || y < 0 || x >= width || y >= height then invalidArg "events" $"event {i}: ({x}, {y}) lies outside the {width}x{height} sensor"
        if t < 0L then invalidArg "events" $"event {i}: negative timestamp {t} µs"
        while t - offset >= timestampLimit do
            out.AddRange [| 0uy; overflowMarker; 0uy; 0uy; 0uy |]
            offset <- offset + (1L <<< 13)
        let r = t - offset
        let polarity = if sorted.P.[i] then 0x80uy else 0uy
        out.AddRange [| byte x; byte y; polarity ||| byte ((r >>> 16) &&& 0x7FL); byte ((r >>> 8) &&& 0xFFL); byte (r &&& 0xFFL) |]
    out.ToArray ()

/// Writes a recording as a `.bin` file (see `encode`), under a temporary name first and then renamed, so a reader
/// never sees half a file.
let write (path: string) (events: CameraEvents) : unit =
    let bytes = encode events
    match Path.GetDirectoryName path with
    | null | "" -> ()
    | folder -> Directory.CreateDirectory folder |> ignore
    let temporary = path + $".{Guid.NewGuid ():N}.tmp"
    File.WriteAllBytes (temporary, bytes)
    File.Move (temporary, path, true)
