/// One error report for every `snn` command: exactly one line `snn: <message>` on standard error and a non-zero exit
/// code, whatever the exception; the stack trace only with `--verbose`.
module Snn.Cli.CliErrors

open System
open System.IO
open System.Reflection

/// Whether errors print their stack trace after the one-line message (`snn --verbose ...`).
let mutable Verbose = false

/// The exception that says what went wrong: wrappers added by reflection, type initialisers and parallel loops with a
/// single failure are peeled off.
let rec root (e: exn) : exn =
    match e with
    | :? AggregateException as a when a.InnerExceptions.Count = 1 -> root a.InnerExceptions.[0]
    | :? TargetInvocationException as t when not (isNull t.InnerException) -> root t.InnerException
    | :? TypeInitializationException as t when not (isNull t.InnerException) -> root t.InnerException
    | e -> e

/// .NET's wording of file-system failures, restated to name the path first and say what was expected there; the
/// temporary names of atomic writes (`.NAME.GUID.tmp`, `NAME.GUID.tmp`) are shown as the file the user asked for.
let private fileSystem (message: string) : string =
    let clean (path: string) = Text.RegularExpressions.Regex.Replace (path, @"(^|/)\.?([^/]+?)\.[0-9a-f]{32}\.tmp$", "$1$2")
    let rules =
        [ @"^The file '(.+)' already exists\.$", "{0}: is a file, but a folder is needed there"
          @"^Is a directory : '(.+)'$", "{0}: is a folder, but a file is needed there"
          @"^Could not find a part of the path '(.+)'\.$", "{0}: a folder on this path does not exist"
          @"^Could not find file '(.+)'\.$", "{0}: no such file"
          @"^Access to the path '(.+)' is denied\.$", "{0}: permission denied" ]
    rules
    |> List.tryPick (fun (pattern, format) ->
        let m = Text.RegularExpressions.Regex.Match (message, pattern)
        if m.Success then Some (String.Format (format, clean m.Groups.[1].Value)) else None)
    |> Option.defaultValue message

/// A message on one line: native (libtorch) messages append C++ frames after their first line, so only the first
/// non-empty line is kept; an empty message falls back to the exception's type name.
let oneLine (e: exn) : string =
    let e = root e
    let first =
        (if isNull e.Message then "" else e.Message).Split ([| '\n'; '\r' |], StringSplitOptions.RemoveEmptyEntries)
        |> Array.tryFind (fun l -> l.Trim () <> "")
        |> Option.map (fun l -> l.Trim ())
    match first, e with
    | Some m, (:? OutOfMemoryException | :? InsufficientMemoryException) -> $"out of memory: {m}"
    | Some m, (:? IOException | :? UnauthorizedAccessException) -> fileSystem m
    | Some m, (:? ArgumentException as a) when not (String.IsNullOrEmpty a.ParamName) ->
        // .NET appends " (Parameter 'name')"; the parameter leads the line instead, unless the message names it.
        let text = m.Replace ($" (Parameter '{a.ParamName}')", "")
        if text.Contains a.ParamName then text else $"{a.ParamName}: {text}"
    | Some m, _ -> m
    | None, _ -> e.GetType().Name

/// Exit code 2 for bad input (arguments, files, data, sizes), 1 for anything else (a defect worth reporting).
let exitCode (e: exn) : int =
    match root e with
    | :? ArgumentException | :? InvalidDataException | :? IOException | :? UnauthorizedAccessException
    | :? FormatException | :? OverflowException | :? OutOfMemoryException | :? NotSupportedException
    | :? Text.Json.JsonException | :? Security.SecurityException -> 2
    | _ -> 1

/// Prints the one-line report of `e` (and its stack trace with `--verbose`); returns the exit code.
let report (e: exn) : int =
    eprintfn "snn: %s" (oneLine e)
    if Verbose then eprintfn "%O" e
    exitCode e

/// Prints `snn: <message>` for a refusal a command found itself; returns exit code 2.
let refuse (message: string) : int =
    eprintfn "snn: %s" (message.Replace('\n', ' ').Replace('\r', ' '))
    2

/// Runs a command body; any exception becomes one line and a non-zero exit code instead of a crash.
let guard (body: unit -> int) : int =
    try body ()
    with e -> report e
