/// CIFAR10-DVS (Li et al. 2017): 10,000 CIFAR-10 images moved on a monitor in front of a DVS128, 1,000 per class,
/// one jAER AEDAT 2.0 file per recording, in one folder per class (`airplane/cifar10_airplane_0.aedat`, ...).
///
/// AEDAT 2.0 layout: ASCII header lines starting with '#', the first `#!AER-DAT2.0`; then 8-byte events, all
/// BIG-endian: uint32 address, uint32 timestamp (microseconds). The DVS128 address, as jAER and the dataset's own
/// MATLAB reader decode it:
///   bit 0 = polarity bit (0 = ON, 1 = OFF), bits 1..7 = 127 − x (jAER mirrors x), bits 8..14 = y,
///   higher bits unused for DVS events.
/// So x = 127 − (bits 1..7 of the address), y = bits 8..14, ON when bit 0 is 0 (masks 0xFE, 0x7F00, 0x1).
/// Timestamps that wrap past 2^32 µs are unwrapped.
[<RequireQualifiedAccess>]
module Snn.Data.Cifar10Dvs

open System
open System.Buffers.Binary
open System.IO

/// Sensor width and height in pixels.
let size = 128

/// Class names, indexed by label; also the folder names of the published archive.
let classNames = [| "airplane"; "automobile"; "bird"; "cat"; "deer"; "dog"; "frog"; "horse"; "ship"; "truck" |]

/// Decodes one AEDAT 2.0 recording. Raises InvalidDataException naming the file and the byte offset for a missing
/// or wrong `#!AER-DAT` header or a truncated event.
let parse (file: string) (bytes: byte[]) : CameraEvents =
    let first = Malformed.firstLine bytes
    if not (first.StartsWith "#!AER-DAT2") then
        Malformed.at file 0L $"not a jAER AEDAT 2.0 file: the first line must be '#!AER-DAT2.0', found '{first}'"
    let start = Malformed.headerEnd bytes
    let length = bytes.Length - start
    if length % 8 <> 0 then
        Malformed.at file (int64 (bytes.Length - length % 8)) $"truncated event: {length} bytes of events is not a multiple of 8"
    let n = length / 8
    let xs = Array.zeroCreate<int16> n
    let ys = Array.zeroCreate<int16> n
    let ts = Array.zeroCreate<int64> n
    let ps = Array.zeroCreate<bool> n
    let mutable wraps = 0L
    let mutable previous = 0L
    for i in 0 .. n - 1 do
        let o = start + 8 * i
        let address = BinaryPrimitives.ReadUInt32BigEndian (ReadOnlySpan<byte> (bytes, o, 4))
        let stamp = int64 (BinaryPrimitives.ReadUInt32BigEndian (ReadOnlySpan<byte> (bytes, o + 4, 4)))
        // A jump back by more than half the 32-bit range is the counter wrapping, not disorder.
        if i > 0 && stamp < previous && previous - stamp > (1L <<< 31) then wraps <- wraps + (1L <<< 32)
        previous <- stamp
        xs.[i] <- int16 (127 - int ((address >>> 1) &&& 0x7Fu))
        ys.[i] <- int16 ((address >>> 8) &&& 0x7Fu)
        ps.[i] <- address &&& 1u = 0u
        ts.[i] <- wraps + stamp
    { Width = size; Height = size; X = xs; Y = ys; T = ts; P = ps } |> Events.sortByTime

/// Reads one `.aedat` recording.
let read (path: string) : CameraEvents = parse path (Malformed.readAll path)

/// The recordings below the dataset root as (path, label), from the class folders in `classNames` order, files
/// sorted by the number in their name. Raises DirectoryNotFoundException when no class folder exists.
let files (root: string) : (string * int)[] =
    let found =
        [| for label in 0 .. classNames.Length - 1 do
            let folder = Path.Combine (root, classNames.[label])
            if Directory.Exists folder then
                let numbered (path: string) =
                    let name = Path.GetFileNameWithoutExtension path
                    match Int32.TryParse (name.Substring (name.LastIndexOf '_' + 1)) with
                    | true, k -> k, name
                    | _ -> Int32.MaxValue, name
                for file in Directory.GetFiles (folder, "*.aedat") |> Array.sortBy numbered do
                    yield file, label |]
    if found.Length = 0 && not (classNames |> Array.exists (fun c -> Directory.Exists (Path.Combine (root, c)))) then
        raise (DirectoryNotFoundException($"{root}: no CIFAR10-DVS class folder (airplane/, automobile/, ...) found"))
    found

/// Reads every recording below the root as labelled samples (lazily).
let samples (root: string) : seq<CameraSample> =
    files root |> Seq.map (fun (path, label) -> { Events = read path; Label = label })
