/// Shared checks of the dataset readers: errors that name the file and the byte offset, and whole-file reads that
/// refuse files too large for one array before allocating anything.
namespace Snn.Data

open System
open System.IO

module internal Malformed =

    /// Raises InvalidDataException "FILE: byte OFFSET: MESSAGE".
    let at (file: string) (offset: int64) (message: string) : 'a =
        raise (InvalidDataException($"{file}: byte {offset}: {message}"))

    /// Reads a whole file after checking that it fits in one array.
    let readAll (path: string) : byte[] =
        let info = FileInfo path
        if Directory.Exists path then raise (IOException $"{path}: is a folder, not a file")
        if not info.Exists then raise (FileNotFoundException($"{path}: no such file", path))
        if info.Length > int64 Array.MaxLength then
            at path 0L $"the file has {info.Length} bytes, more than one array can hold ({Array.MaxLength})"
        File.ReadAllBytes path

    /// The offset just past the ASCII header of an AEDAT file: every leading line that starts with '#', up to and
    /// including the line `#!END-HEADER` when there is one.
    let headerEnd (bytes: byte[]) : int =
        let mutable offset = 0
        let mutable finished = false
        while not finished && offset < bytes.Length && bytes.[offset] = byte '#' do
            let lineEnd = Array.IndexOf (bytes, byte '\n', offset)
            let next = if lineEnd < 0 then bytes.Length else lineEnd + 1
            let line = Text.Encoding.ASCII.GetString (bytes, offset, next - offset)
            if line.StartsWith "#!END-HEADER" then finished <- true
            offset <- next
        offset

    /// The first header line (without line ending), or "" when the file does not start with '#'.
    let firstLine (bytes: byte[]) : string =
        if bytes.Length = 0 || bytes.[0] <> byte '#' then ""
        else
            let lineEnd = Array.IndexOf (bytes, byte '\n')
            let stop = if lineEnd < 0 then min bytes.Length 256 else lineEnd
            Text.Encoding.ASCII.GetString(bytes, 0, stop).TrimEnd ('\r')
