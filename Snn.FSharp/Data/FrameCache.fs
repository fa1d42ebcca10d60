/// A disk cache of integrated frames, so that slow preparation (reading and integrating a recording) happens once.
/// Entries are `.npy` files named by the SHA-256 of a key made of the reader name, the source file (full path,
/// length and last-write time, so a changed file is re-read) and the integration parameters. Writes are atomic: a
/// file under a unique temporary name, then a rename, so a crash or a concurrent reader never sees half an entry.
[<RequireQualifiedAccess>]
module Snn.Data.FrameCache

open System
open System.IO
open System.Security.Cryptography
open System.Text

/// The cache key of a source file read by `reader` and integrated with `parameters` (any text that differs
/// whenever the frames would).
let key (reader: string) (sourcePath: string) (parameters: string) : string =
    let info = FileInfo sourcePath
    let stamp = if info.Exists then $"{info.Length}:{info.LastWriteTimeUtc.Ticks}" else "missing"
    $"{reader}|{Path.GetFullPath sourcePath}|{stamp}|{parameters}"

/// The cache file of a key in a folder.
let pathOf (folder: string) (key: string) : string =
    let hash = SHA256.HashData (Encoding.UTF8.GetBytes key)
    Path.Combine (folder, Convert.ToHexString(hash).ToLowerInvariant () + ".npy")

/// Returns the cached frames of `key`, or computes them with `create`, stores them atomically and returns them.
let getOrCreate (folder: string) (key: string) (create: unit -> FrameStack) : FrameStack =
    let path = pathOf folder key
    if File.Exists path then
        let cached = Npy.read path
        { Shape = cached.Shape; Data = cached.Values |> Array.map float32 }
    else
        let frames = create ()
        Directory.CreateDirectory folder |> ignore
        let temporary = Path.Combine (folder, $".{Guid.NewGuid ():N}.npy")
        Npy.write temporary "<f4" frames.Shape (frames.Data |> Array.map float)
        File.Move (temporary, path, true)
        frames
