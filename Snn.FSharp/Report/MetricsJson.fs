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

/// name: [[m[0,0], m[0,1], ...], ...], one array per row.
let writeMatrix (w: Utf8JsonWriter) (name: string) (m: int[,]) =
    w.WriteStartArray name
    for i in 0 .. Array2D.length1 m - 1 do
        w.WriteStartArray ()
        for j in 0 .. Array2D.length2 m - 1 do w.WriteNumberValue m.[i, j]
        w.WriteEndArray ()
    w.WriteEndArray ()
