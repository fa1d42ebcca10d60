/// The pieces every `metrics.json` of the commands shares: an indented document in memory, the settings object and
/// integer matrices (confusion matrices, rows = true label).
module Snn.Report.MetricsJson

open System.IO
open System.Text
open System.Text.Json

/// The JSON text `body` writes into one indented document.
let document (body: Utf8JsonWriter -> unit) : string =
    use stream = new MemoryStream ()
    (use w = new Utf8JsonWriter (stream, JsonWriterOptions (Indented = true))
     body w)
    Encoding.UTF8.GetString (stream.ToArray ())

/// "settings": { key: value, ... } in the given order.
let writeSettings (w: Utf8JsonWriter) (settings: (string * string) list) =
    w.WriteStartObject "settings"
    for k, v in settings do w.WriteString (k, v)
    w.WriteEndObject ()

/// name: [x0, x1, ...].
let writeFloats (w: Utf8JsonWriter) (name: string) (xs: float[]) =
    w.WriteStartArray name
    for x in xs do w.WriteNumberValue x
    w.WriteEndArray ()

/// name: [[r0...], [r1...], ...], one array per row of a jagged matrix.
let writeRows (w: Utf8JsonWriter) (name: string) (rows: float[][]) =
    w.WriteStartArray name
    for row in rows do
        w.WriteStartArray ()
        for v in row do w.WriteNumberValue v
        w.WriteEndArray ()
    w.WriteEndArray ()

/// name: [[m[0,0], m[0,1], ...], ...], one array per row.
let writeMatrix (w: Utf8JsonWriter) (name: string) (m: int[,]) =
    w.WriteStartArray name
    for i in 0 .. Array2D.length1 m - 1 do
        w.WriteStartArray ()
        for j in 0 .. Array2D.length2 m - 1 do w.WriteNumberValue m.[i, j]
        w.WriteEndArray ()
    w.WriteEndArray ()
