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
