/// Result tables of experiments run over several seeds (thesis tables 4-7 and 10-14): each cell is a list of
/// per-seed values, reported as mean ± sample standard deviation, written as JSON and as a Markdown table.
[<RequireQualifiedAccess>]
module Snn.Experiment

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json

/// One row of a table: a configuration (e.g. "alpha = 0.3, A1") and, per metric, the value of every seed run.
type Row =
    { /// What distinguishes this row from the others.
      Label: string
      /// Metric name -> one value per seed, in seed order. Metrics missing from a row print as "—".
      Values: Map<string, float list> }

/// A table of rows over the same metric columns.
type Table =
    { /// Short identifier, used as the file name stem (e.g. "table4-alpha").
      Id: string
      /// Human-readable title (what the thesis table measured, and on which data).
      Title: string
      /// Metric columns, in display order.
      Metrics: string list
      /// Seeds every row was run with.
      Seeds: int list
      /// The rows, in display order.
      Rows: Row list }

/// Mean and sample standard deviation (n - 1 in the denominator; 0 for a single value) of `values`.
let meanStd (values: float list) : float * float =
    match values with
    | [] -> invalidArg "values" "is empty: no seed was run"
    | [ v ] -> v, 0.0
    | _ ->
        let n = float values.Length
        let mean = List.sum values / n
        let variance = (values |> List.sumBy (fun v -> (v - mean) ** 2.0)) / (n - 1.0)
        mean, sqrt variance

/// A row from (metric, value) pairs of several seed runs: `runs.[s]` holds seed s's metrics.
let rowOfRuns (label: string) (runs: (string * float) list list) : Row =
    let values =
        runs
        |> List.collect id
        |> List.groupBy fst
        |> List.map (fun (metric, pairs) -> metric, List.map snd pairs)
        |> Map.ofList
    { Label = label; Values = values }

let private cell (row: Row) (metric: string) =
    match Map.tryFind metric row.Values with
    | None | Some [] -> "—"
    | Some values ->
        let mean, std = meanStd values
        String.Format (CultureInfo.InvariantCulture, "{0:0.####} ± {1:0.####}", mean, std)

/// The table as Markdown: a heading, the seeds, and one line per row with mean ± std per metric.
let toMarkdown (table: Table) : string =
    let b = StringBuilder ()
    let seeds = String.Join (", ", table.Seeds)
    b.AppendLine($"### {table.Title}").AppendLine().AppendLine($"Seeds: {seeds} (mean ± sample std)").AppendLine () |> ignore
    b.AppendLine("| configuration | " + String.Join (" | ", table.Metrics) + " |") |> ignore
    b.AppendLine("|---|" + String.replicate table.Metrics.Length "---|") |> ignore
    for row in table.Rows do
        let cells = table.Metrics |> List.map (cell row)
        b.AppendLine($"| {row.Label} | " + String.Join (" | ", cells) + " |") |> ignore
    b.ToString ()

/// The table as JSON: id, title, metrics, seeds, and per row the label and per metric the seed values, mean and std.
let toJson (table: Table) : string =
    let options = JsonWriterOptions (Indented = true)
    use stream = new MemoryStream ()
    (use w = new Utf8JsonWriter (stream, options)
     w.WriteStartObject ()
     w.WriteString ("id", table.Id)
     w.WriteString ("title", table.Title)
     w.WriteStartArray "metrics"
     for m in table.Metrics do w.WriteStringValue m
     w.WriteEndArray ()
     w.WriteStartArray "seeds"
     for s in table.Seeds do w.WriteNumberValue s
     w.WriteEndArray ()
     w.WriteStartArray "rows"
     for row in table.Rows do
         w.WriteStartObject ()
         w.WriteString ("label", row.Label)
         w.WriteStartObject "values"
         for KeyValue (metric, values) in row.Values do
             w.WriteStartObject metric
             w.WriteStartArray "seeds"
             for v in values do w.WriteNumberValue v
             w.WriteEndArray ()
             if not values.IsEmpty then
                 let mean, std = meanStd values
                 w.WriteNumber ("mean", mean)
                 w.WriteNumber ("std", std)
             w.WriteEndObject ()
         w.WriteEndObject ()
         w.WriteEndObject ()
     w.WriteEndArray ()
     w.WriteEndObject ())
    Encoding.UTF8.GetString (stream.ToArray ())

/// Writes `<directory>/<id>.json` and `<directory>/<id>.md` atomically (temporary file, then rename) and returns
/// the two paths.
let write (directory: string) (table: Table) : string * string =
    if String.IsNullOrWhiteSpace table.Id || table.Id.IndexOfAny (Path.GetInvalidFileNameChars ()) >= 0 then
        invalidArg "table" $"Id '{table.Id}' is not a usable file name"
    Directory.CreateDirectory directory |> ignore
    let json = Path.Combine (directory, table.Id + ".json")
    let markdown = Path.Combine (directory, table.Id + ".md")
    AtomicFile.write json (fun p -> File.WriteAllText (p, toJson table))
    AtomicFile.write markdown (fun p -> File.WriteAllText (p, toMarkdown table))
    json, markdown
