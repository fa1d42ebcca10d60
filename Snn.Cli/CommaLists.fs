/// Comma-separated option values (`--thresholds 1.25,5,10`, `--seeds 0,1,2`), parsed in the invariant culture; a bad
/// element raises an ArgumentException naming the option and the element.
module Snn.Cli.CommaLists

open System
open System.Globalization

/// The elements of `text`, each parsed by `parse` (None = invalid, described by `expected`).
let private elements (option: string) (expected: string) (parse: string -> 'a option) (text: string) : 'a[] =
    text.Split (',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
    |> Array.map (fun s ->
        match parse s with
        | Some v -> v
        | None -> raise (ArgumentException ($"'{s}' is not {expected}", option)))

/// Finite floating-point numbers.
let floats (option: string) (text: string) : float[] =
    elements option "a finite number" (fun s ->
        match Double.TryParse (s, NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v when Double.IsFinite v -> Some v
        | _ -> None) text

/// 32-bit integers.
let integers (option: string) (text: string) : int[] =
    elements option "an integer" (fun s ->
        match Int32.TryParse (s, NumberStyles.Integer, CultureInfo.InvariantCulture) with
        | true, v -> Some v
        | _ -> None) text
