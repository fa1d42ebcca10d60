/// Files written so that a reader never sees a half-written one (checkpoints, reports, tables): no SNN knowledge,
/// used by every layer above.
namespace Snn

open System
open System.IO

/// fsync through the C library: .NET flushes files to the disk but cannot open a folder to flush its entries.
module private Posix =
    [<System.Runtime.InteropServices.DllImport("libc", SetLastError = true)>]
    extern int ``open`` (string path, int flags)
    [<System.Runtime.InteropServices.DllImport("libc", SetLastError = true)>]
    extern int fsync (int fd)
    [<System.Runtime.InteropServices.DllImport("libc", SetLastError = true)>]
    extern int close (int fd)

/// Files written so that a reader never sees a half-written one: a temporary file beside the target, flushed to the
/// disk, then a rename.
[<RequireQualifiedAccess>]
module AtomicFile =
    /// Flushes a written file's bytes to the disk (fsync), so that a rename after it cannot expose an empty or short
    /// file after a power loss.
    let flushToDisk (path: string) : unit =
        use stream = new FileStream (path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)
        stream.Flush true

    /// Flushes a folder's entries (creations, renames) to the disk; a no-op where folders cannot be opened (Windows).
    let flushFolder (path: string) : unit =
        if not (OperatingSystem.IsWindows ()) then
            try
                let fd = Posix.``open`` (path, 0)
                if fd >= 0 then
                    Posix.fsync fd |> ignore
                    Posix.close fd |> ignore
            with :? DllNotFoundException | :? EntryPointNotFoundException -> ()

    /// Writes the target by calling `write` on a temporary path in the same directory, flushes it to the disk, then
    /// renames it over the target (replacing it). The temporary file is removed if `write` fails.
    let write (path: string) (write: string -> unit) : unit =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "must name a file"
        let full = Path.GetFullPath path
        let temporary = Path.Combine (Path.GetDirectoryName full, $".{Path.GetFileName full}.{Guid.NewGuid():N}.tmp")
        try
            write temporary
            flushToDisk temporary
            File.Move (temporary, full, true)
        finally
            if File.Exists temporary then File.Delete temporary

