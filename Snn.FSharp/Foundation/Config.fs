/// Experiment configurations: JSON files, YAML files (read by YamlDotNet: block and flow style, anchors, aliases and
/// `<<` merge keys) and `key=value` overrides, flattened to dotted keys ("optimizer.lr"), checked against a schema of typed keys
/// and merged in layers (defaults < file < command-line flags < overrides). Pure functions except `load`; every
/// error names the key and where its value came from (file and line, or the override).
namespace Snn

open System
open System.Collections.Generic
open System.Globalization
open System.IO
open System.Text
open System.Text.Json
open YamlDotNet.Core
open YamlDotNet.RepresentationModel

/// The type of value a configuration key holds.
type ConfigKind =
    /// A whole number.
    | IntegerKind
    /// A real number (whole numbers are accepted).
    | RealKind
    /// true or false.
    | BooleanKind
    /// Any text.
    | TextKind
    /// One of the listed words (case-insensitive; stored in lower case).
    | ChoiceKind of choices: string[]

/// A configuration value.
type ConfigValue =
    /// A whole number.
    | Integer of int64
    /// A real number.
    | Real of float
    /// A flag.
    | Boolean of bool
    /// Text.
    | Text of string
    /// No value (allowed for optional keys only).
    | Null

/// One key of a configuration schema.
type ConfigKey =
    { /// The dotted key, e.g. "optimizer.lr".
      Key: string
      /// The type of its value.
      Kind: ConfigKind
      /// Whether null (no value) is allowed.
      Optional: bool
      /// The value when no layer sets it.
      Default: ConfigValue
      /// What the key means, with units.
      Description: string }

/// A value and where it came from ("run.json:4", "--set", "default"), for error messages.
type ConfigEntry =
    { /// The value.
      Value: ConfigValue
      /// Its origin: file and line, command-line option, or "default".
      Source: string }

/// A node of the nested form of dotted keys: a value's key, or a section of named children.
type ConfigNode =
    /// The dotted key of a value.
    | Leaf of key: string
    /// A section of named children.
    | Section of children: (string * ConfigNode) list

/// Reading, checking, merging and writing configurations.
[<RequireQualifiedAccess>]
module Config =

    let private describe (value: ConfigValue) =
        match value with
        | Integer i -> $"the integer {i}"
        | Real r -> $"the number {r.ToString (CultureInfo.InvariantCulture)}"
        | Boolean b -> if b then "the flag true" else "the flag false"
        | Text t -> $"the text \"{t}\""
        | Null -> "null"

    let private kindName (kind: ConfigKind) =
        match kind with
        | IntegerKind -> "an integer"
        | RealKind -> "a number"
        | BooleanKind -> "true or false"
        | TextKind -> "a text"
        | ChoiceKind choices -> "one of " + String.Join (", ", choices)

    /// The value a YAML scalar or an override's text stands for: null/~, true/false, integers, invariant-culture
    /// reals, quoted text ("..." with \" and \\ escapes, or '...'), otherwise the text itself.
    let scalarOf (text: string) : ConfigValue =
        let t = text.Trim ()
        if t.Length >= 2 && t.[0] = '"' && t.[t.Length - 1] = '"' then
            Text (t.Substring(1, t.Length - 2).Replace("\\\"", "\"").Replace ("\\\\", "\\"))
        elif t.Length >= 2 && t.[0] = '\'' && t.[t.Length - 1] = '\'' then Text (t.Substring(1, t.Length - 2).Replace ("''", "'"))
        else
            match t.ToLowerInvariant () with
            | "" | "null" | "~" -> Null
            | "true" -> Boolean true
            | "false" -> Boolean false
            | _ ->
                match Int64.TryParse (t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) with
                | true, i -> Integer i
                | _ ->
                    match Double.TryParse (t, NumberStyles.Float, CultureInfo.InvariantCulture) with
                    | true, r -> Real r
                    | _ -> Text t

    let private lineOf (bytes: byte[]) (offset: int64) =
        let mutable line = 1
        for i in 0 .. int offset - 1 do
            if bytes.[i] = byte '\n' then line <- line + 1
        line

    let private add (entries: Dictionary<string, ConfigEntry>) (key: string) (entry: ConfigEntry) =
        if entries.ContainsKey key then
            raise (InvalidDataException $"{entry.Source}: key '{key}' is set twice (first at {entries.[key].Source})")
        entries.[key] <- entry

    /// The entries of a JSON object, nested objects flattened to dotted keys; `source` names the text in messages
    /// (usually the file path) and each entry's source is "source:line". Comments and trailing commas are
    /// allowed; a list of scalars becomes one text value, its items joined by commas. A syntax error raises
    /// InvalidDataException with the line and the byte within the line; nested lists, a root that is not an object
    /// and duplicate keys are errors too.
    let parseJson (source: string) (text: string) : Map<string, ConfigEntry> =
        if isNull text then nullArg "text"
        let bytes = Encoding.UTF8.GetBytes text
        let entries = Dictionary<string, ConfigEntry>()
        let options = JsonReaderOptions (CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)
        let mutable reader = Utf8JsonReader (ReadOnlySpan<byte> bytes, options)
        let path = Stack<string>()
        let mutable pending = ""
        let mutable pendingLine = 0
        let mutable started = false
        let keyOf (name: string) = String.Join (".", Seq.append (Seq.rev path) [ name ])
        try
            while reader.Read () do
                let line = lineOf bytes reader.TokenStartIndex
                match reader.TokenType with
                | JsonTokenType.StartObject ->
                    if not started then started <- true
                    else path.Push pending
                | JsonTokenType.EndObject -> if path.Count > 0 then path.Pop () |> ignore
                | JsonTokenType.PropertyName ->
                    pending <- reader.GetString ()
                    pendingLine <- line
                | JsonTokenType.StartArray ->
                    if not started then raise (InvalidDataException $"{source}:{line}: the configuration must be a JSON object, not an array")
                    // A list of scalars is one value: its items joined by commas, as the command line's lists are written.
                    let items = ResizeArray<string> ()
                    while reader.Read () && reader.TokenType <> JsonTokenType.EndArray do
                        match reader.TokenType with
                        | JsonTokenType.String -> items.Add (reader.GetString ())
                        | JsonTokenType.Number | JsonTokenType.True | JsonTokenType.False -> items.Add (Encoding.UTF8.GetString reader.ValueSpan)
                        | _ -> raise (InvalidDataException $"{source}:{lineOf bytes reader.TokenStartIndex}: key '{keyOf pending}' holds a list of lists, objects or nulls; a list holds numbers, text or true/false")
                    add entries (keyOf pending) { Value = Text (String.Join (",", items)); Source = $"{source}:{pendingLine}" }
                | JsonTokenType.String | JsonTokenType.Number | JsonTokenType.True | JsonTokenType.False | JsonTokenType.Null ->
                    if not started then raise (InvalidDataException $"{source}:{line}: the configuration must be a JSON object")
                    let value =
                        match reader.TokenType with
                        | JsonTokenType.String -> Text (reader.GetString ())
                        | JsonTokenType.True -> Boolean true
                        | JsonTokenType.False -> Boolean false
                        | JsonTokenType.Null -> Null
                        | _ ->
                            let raw = Encoding.UTF8.GetString (reader.ValueSpan)
                            let mutable i = 0L
                            let mutable d = 0.0
                            if raw.IndexOfAny [| '.'; 'e'; 'E' |] < 0 && reader.TryGetInt64 (&i) then Integer i
                            elif reader.TryGetDouble (&d) && Double.IsFinite d then Real d
                            else raise (InvalidDataException $"{source}:{line}: key '{keyOf pending}': {raw} is not a finite 64-bit number")
                    add entries (keyOf pending) { Value = value; Source = $"{source}:{pendingLine}" }
                | _ -> ()
        with :? JsonException as e ->
            let line = if e.LineNumber.HasValue then e.LineNumber.Value + 1L else 0L
            let column = if e.BytePositionInLine.HasValue then e.BytePositionInLine.Value + 1L else 0L
            // System.Text.Json appends its own zero-based position; the one-based position leads the message instead.
            let cut = e.Message.IndexOf " LineNumber:"
            let reason = if cut > 0 then e.Message.Substring (0, cut) else e.Message
            raise (InvalidDataException ($"{source}: JSON syntax error at line {line}, byte {column}: {reason}", e))
        if not started then raise (InvalidDataException $"{source}: holds no JSON object")
        entries |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq

    /// The entries of a YAML document, read by YamlDotNet: nested mappings (block or flow style) flattened to dotted
    /// keys, anchors and aliases, `<<` merge keys, `#` comments. Plain scalars are read as in `scalarOf`, quoted ones
    /// are text, `key:` with nothing after it is null; a list of scalars (`[1, 2]` or `- 1` lines) becomes one text
    /// value, its items joined by commas, as the command line's lists are written. Every error raises an
    /// InvalidDataException naming `source` and the line (syntax errors, duplicate keys, lists of mappings, a root
    /// that is not a mapping, more than one document).
    let parseYaml (source: string) (text: string) : Map<string, ConfigEntry> =
        if isNull text then nullArg "text"
        let entries = Dictionary<string, ConfigEntry>()
        let at (node: YamlNode) = $"{source}:{node.Start.Line}"
        let stream = YamlStream ()
        try stream.Load (new StringReader (text))
        with
        | :? YamlException as e ->
            // YamlDotNet puts its own "(Line: l, Col: c, Idx: i) - (...): " before the reason; the line leads instead.
            let reason = System.Text.RegularExpressions.Regex.Replace (e.Message, @"^\(Line: [^)]*\) - \(Line: [^)]*\): ", "")
            let inner = if isNull e.InnerException then "" else $" ({e.InnerException.Message})"
            // An alias of an unknown anchor is reported at the document's start: the alias's own line is found instead.
            let unknownAnchor = System.Text.RegularExpressions.Regex.Match (reason, "anchor '([^']+)' does not exist")
            let lines = text.Replace("\r\n", "\n").Split '\n'
            let line, column =
                match unknownAnchor.Success, lines |> Array.tryFindIndex (fun l -> l.Contains ("*" + unknownAnchor.Groups.[1].Value)) with
                | true, Some i -> int64 (i + 1), int64 (lines.[i].IndexOf ("*" + unknownAnchor.Groups.[1].Value) + 1)
                | _ -> int64 e.Start.Line, int64 e.Start.Column
            raise (InvalidDataException ($"{source}:{line}: YAML error, column {column}: {reason}{inner}", e))
        | e when not (e :? InvalidDataException) ->
            // YamlDotNet's parser state errors carry no position; the file still leads the line.
            raise (InvalidDataException ($"{source}: YAML error: {e.Message}", e))
        let scalar (node: YamlScalarNode) : ConfigValue =
            match node.Style with
            | ScalarStyle.SingleQuoted | ScalarStyle.DoubleQuoted | ScalarStyle.Literal | ScalarStyle.Folded -> Text node.Value
            | _ -> if isNull node.Value then Null else scalarOf node.Value
        let nameOf (k: YamlNode) =
            match k with
            | :? YamlScalarNode as s when not (String.IsNullOrWhiteSpace s.Value) && not (s.Value.Contains ' ') -> s.Value
            | _ -> raise (InvalidDataException $"{at k}: a key must be a name without spaces")
        // The entries of a mapping with its `<<` merge keys applied: the mapping's own keys win, then the merged
        // mappings in their order (YAML's merge-key rule).
        let rec children (mapping: YamlMappingNode) : (YamlNode * YamlNode) list =
            let own = [ for KeyValue (k, v) in mapping.Children do if nameOf k <> "<<" then yield k, v ]
            let merged =
                [ for KeyValue (k, v) in mapping.Children do
                    if nameOf k = "<<" then
                        let sources =
                            match v with
                            | :? YamlMappingNode as m -> [ m ]
                            | :? YamlSequenceNode as items ->
                                [ for item in items.Children ->
                                    match item with
                                    | :? YamlMappingNode as m -> m
                                    | _ -> raise (InvalidDataException $"{at item}: a merge key '<<' takes mappings") ]
                            | _ -> raise (InvalidDataException $"{at v}: a merge key '<<' takes a mapping or a list of mappings")
                        for m in sources do yield! children m ]
            let names = Collections.Generic.HashSet<string> (own |> List.map (fst >> nameOf))
            own @ (merged |> List.filter (fun (k, _) -> names.Add (nameOf k)))
        let rec walk (prefix: string) (mapping: YamlMappingNode) =
            if entries.Count > 100000 then raise (InvalidDataException $"{at mapping}: expands to more than 100000 keys (aliases nested too deep?)")
            for k, v in children mapping do
                let key = if prefix = "" then nameOf k else prefix + "." + nameOf k
                match v with
                | :? YamlMappingNode as child when child.Children.Count > 0 -> walk key child
                | :? YamlMappingNode -> add entries key { Value = Null; Source = at k }
                | :? YamlScalarNode as s -> add entries key { Value = scalar s; Source = at k }
                | :? YamlSequenceNode as items ->
                    let texts =
                        items.Children
                        |> Seq.map (fun item ->
                            match item with
                            | :? YamlScalarNode as s when not (isNull s.Value) -> s.Value
                            | _ -> raise (InvalidDataException $"{at item}: key '{key}' holds a list item that is not a number or text"))
                    add entries key { Value = Text (String.Join (",", texts)); Source = at k }
                | other -> raise (InvalidDataException $"{at other}: key '{key}' holds an unsupported YAML node")
        match List.ofSeq stream.Documents with
        | [] -> ()
        | [ document ] ->
            match document.RootNode with
            | :? YamlMappingNode as root -> walk "" root
            | :? YamlScalarNode as s when String.IsNullOrEmpty s.Value -> ()
            | root -> raise (InvalidDataException $"{at root}: the configuration must be a mapping of keys to values")
        | _ :: second :: _ -> raise (InvalidDataException $"{at second.RootNode}: holds a second YAML document; a configuration is one document")
        entries |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq

    /// The entries of a configuration file: JSON for `.json`, YAML for `.yaml` / `.yml`.
    let load (path: string) : Map<string, ConfigEntry> =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "must name a configuration file"
        if not (File.Exists path) then raise (FileNotFoundException ($"configuration file not found: {path}", path))
        match Path.GetExtension(path).ToLowerInvariant () with
        | ".json" -> parseJson path (File.ReadAllText path)
        | ".yaml" | ".yml" -> parseYaml path (File.ReadAllText path)
        | other -> raise (InvalidDataException $"{path}: unknown configuration format '{other}' (use .json, .yaml or .yml)")

    let private distance (a: string) (b: string) =
        let d = Array2D.init (a.Length + 1) (b.Length + 1) (fun i j -> if i = 0 then j elif j = 0 then i else 0)
        for i in 1 .. a.Length do
            for j in 1 .. b.Length do
                let cost = if a.[i - 1] = b.[j - 1] then 0 else 1
                d.[i, j] <- min (min (d.[i - 1, j] + 1) (d.[i, j - 1] + 1)) (d.[i - 1, j - 1] + cost)
        d.[a.Length, b.Length]

    let private unknown (schema: ConfigKey[]) (key: string) (source: string) : exn =
        // A key that extends or shortens a known one ("optimizer.lrate") is the likeliest typo; otherwise edit distance.
        let score (k: ConfigKey) = if key.StartsWith k.Key || k.Key.StartsWith key then 0 else distance k.Key key
        let closest = schema |> Array.minBy score
        let hint = if score closest <= 3 then $" (did you mean '{closest.Key}'?)" else ""
        let known = String.Join (", ", schema |> Array.map (fun k -> k.Key))
        InvalidDataException $"{source}: unknown key '{key}'{hint}; known keys: {known}"

    /// The value converted to the key's kind (integers widen to reals, choices are lower-cased), or an
    /// InvalidDataException naming the key, the expected kind, the value and its source.
    let coerce (key: ConfigKey) (entry: ConfigEntry) : ConfigEntry =
        let wrong () =
            let orNull = if key.Optional then " or null" else ""
            InvalidDataException $"{entry.Source}: key '{key.Key}' expects {kindName key.Kind}{orNull}, got {describe entry.Value}"
        let value =
            match key.Kind, entry.Value with
            | _, Null when key.Optional -> Null
            | IntegerKind, Integer i -> Integer i
            | RealKind, Integer i -> Real (float i)
            | RealKind, Real r -> Real r
            | BooleanKind, Boolean b -> Boolean b
            | TextKind, Text t -> Text t
            | ChoiceKind choices, Text t when choices |> Array.exists (fun c -> c.Equals (t, StringComparison.OrdinalIgnoreCase)) ->
                Text (t.ToLowerInvariant ())
            | _ -> raise (wrong ())
        { entry with Value = value }

    /// Checks parsed entries against a schema: every key must be in it (an unknown key raises naming the key, its
    /// source and the closest known key) and every value must have the key's kind (see `coerce`).
    let check (schema: ConfigKey[]) (entries: Map<string, ConfigEntry>) : Map<string, ConfigEntry> =
        entries
        |> Map.map (fun key entry ->
            match schema |> Array.tryFind (fun k -> k.Key = key) with
            | Some spec -> coerce spec entry
            | None -> raise (unknown schema key entry.Source))

    /// Overrides from `key=value` assignments (as given to `--set`), the value read by `scalarOf`, each with
    /// source "--set key=value"; checked against the schema (text keys take the text as written).
    let overrides (schema: ConfigKey[]) (assignments: string seq) : Map<string, ConfigEntry> =
        if isNull assignments then nullArg "assignments"
        assignments
        |> Seq.fold (fun (acc: Map<string, ConfigEntry>) (assignment: string) ->
            let equals = if isNull assignment then -1 else assignment.IndexOf '='
            if equals <= 0 then invalidArg "set" $"'{assignment}' is not a key=value assignment"
            let key = assignment.Substring(0, equals).Trim ()
            let raw = assignment.Substring (equals + 1)
            let source = $"--set {assignment}"
            match schema |> Array.tryFind (fun k -> k.Key = key) with
            | None -> raise (unknown schema key source)
            | Some spec ->
                let value =
                    match spec.Kind, scalarOf raw with
                    | TextKind, Null when not spec.Optional -> Text (raw.Trim ())
                    | TextKind, Null -> Null
                    | TextKind, _ -> (match scalarOf raw with Text t -> Text t | _ -> Text (raw.Trim ()))
                    | _, v -> v
                acc.Add (key, coerce spec { Value = value; Source = source })) Map.empty

    /// The schema's defaults, each with source "default".
    let defaults (schema: ConfigKey[]) : Map<string, ConfigEntry> =
        schema |> Array.map (fun k -> k.Key, { Value = k.Default; Source = "default" }) |> Map.ofArray

    /// Layers merged in order, a later layer's entry replacing an earlier one's.
    let merge (layers: Map<string, ConfigEntry> seq) : Map<string, ConfigEntry> =
        layers |> Seq.fold (fun acc layer -> Map.fold (fun (m: Map<_, _>) k v -> m.Add (k, v)) acc layer) Map.empty

    /// The effective configuration: the schema's defaults, then each layer (checked against the schema) in order.
    let resolve (schema: ConfigKey[]) (layers: Map<string, ConfigEntry> seq) : Map<string, ConfigEntry> =
        merge (Seq.append [ defaults schema ] (layers |> Seq.map (check schema)))

    let private entry (config: Map<string, ConfigEntry>) (key: string) =
        match config.TryFind key with
        | Some e -> e
        | None -> invalidArg "key" $"the configuration has no key '{key}'"

    let private mismatch (key: string) (e: ConfigEntry) (expected: string) : 'a =
        invalidArg "key" $"{e.Source}: key '{key}' holds {describe e.Value}, not {expected}"

    /// The integer at `key`.
    let integer (config: Map<string, ConfigEntry>) (key: string) : int =
        match entry config key with
        | { Value = Integer i } when i >= int64 Int32.MinValue && i <= int64 Int32.MaxValue -> int i
        | e -> mismatch key e "an integer in the 32-bit range"

    /// The real number at `key`.
    let real (config: Map<string, ConfigEntry>) (key: string) : float =
        match entry config key with
        | { Value = Real r } -> r
        | { Value = Integer i } -> float i
        | e -> mismatch key e "a number"

    /// The flag at `key`.
    let boolean (config: Map<string, ConfigEntry>) (key: string) : bool =
        match entry config key with
        | { Value = Boolean b } -> b
        | e -> mismatch key e "true or false"

    /// The text at `key`.
    let text (config: Map<string, ConfigEntry>) (key: string) : string =
        match entry config key with
        | { Value = Text t } -> t
        | e -> mismatch key e "a text"

    /// The integer at `key`, or None when it is null.
    let optionalInteger (config: Map<string, ConfigEntry>) (key: string) : int option =
        match entry config key with
        | { Value = Null } -> None
        | _ -> Some (integer config key)

    /// The real number at `key`, or None when it is null.
    let optionalReal (config: Map<string, ConfigEntry>) (key: string) : float option =
        match entry config key with
        | { Value = Null } -> None
        | _ -> Some (real config key)

    /// The text at `key`, or None when it is null.
    let optionalText (config: Map<string, ConfigEntry>) (key: string) : string option =
        match entry config key with
        | { Value = Null } -> None
        | _ -> Some (text config key)

    /// The source of the value at `key` ("default", "file:line", "--set ...").
    let sourceOf (config: Map<string, ConfigEntry>) (key: string) : string = (entry config key).Source

    /// Nested (section, leaf) structure of the schema's keys in schema order, grouped by their first segment.
    let rec private tree (prefix: string) (keys: string list) : (string * ConfigNode) list =
        keys
        |> List.map (fun k -> (k.Split '.').[0])
        |> List.distinct
        |> List.map (fun head ->
            let children = keys |> List.filter (fun k -> k = head || k.StartsWith (head + "."))
            match children with
            | [ single ] when single = head -> head, Leaf (prefix + head)
            | _ ->
                let rest = children |> List.filter (fun k -> k <> head) |> List.map (fun k -> k.Substring (head.Length + 1))
                head, Section (tree (prefix + head + ".") rest))

    let private treeOf (schema: ConfigKey[]) = tree "" (schema |> Array.map (fun k -> k.Key) |> List.ofArray)

    let private realText (r: float) =
        let s = r.ToString ("R", CultureInfo.InvariantCulture)
        if s.Contains '.' || s.Contains 'E' || Double.IsNaN r || Double.IsInfinity r then s else s + ".0"

    /// The configuration as indented JSON, nested by the dotted keys, in schema order (keys of `config` outside the
    /// schema are left out). `parseJson` of the result gives the same values.
    let toJson (schema: ConfigKey[]) (config: Map<string, ConfigEntry>) : string =
        use stream = new MemoryStream ()
        (
            use writer = new Utf8JsonWriter (stream, JsonWriterOptions (Indented = true))
            let rec write (nodes: (string * ConfigNode) list) =
                for name, node in nodes do
                    match node with
                    | Leaf key ->
                        writer.WritePropertyName name
                        match (entry config key).Value with
                        | Integer i -> writer.WriteNumberValue i
                        | Real r -> writer.WriteRawValue (realText r)
                        | Boolean b -> writer.WriteBooleanValue b
                        | Text t -> writer.WriteStringValue t
                        | Null -> writer.WriteNullValue ()
                    | Section children ->
                        writer.WriteStartObject name
                        write children
                        writer.WriteEndObject ()
            writer.WriteStartObject ()
            write (treeOf schema)
            writer.WriteEndObject ()
        )
        Encoding.UTF8.GetString (stream.ToArray ()) + "\n"

    /// The configuration as YAML, nested by the dotted keys with two-space indentation, in schema order;
    /// `parseYaml` of the result gives the same values.
    let toYaml (schema: ConfigKey[]) (config: Map<string, ConfigEntry>) : string =
        let out = StringBuilder ()
        let rec write (indent: int) (nodes: (string * ConfigNode) list) =
            for name, node in nodes do
                let pad = String (' ', indent)
                match node with
                | Leaf key ->
                    let value =
                        match (entry config key).Value with
                        | Integer i -> string i
                        | Real r -> realText r
                        | Boolean b -> (if b then "true" else "false")
                        | Text t -> "\"" + t.Replace("\\", "\\\\").Replace ("\"", "\\\"") + "\""
                        | Null -> "null"
                    out.Append(pad).Append(name).Append(": ").Append(value).Append ('\n') |> ignore
                | Section children ->
                    out.Append(pad).Append(name).Append(":\n") |> ignore
                    write (indent + 2) children
        write 0 (treeOf schema)
        out.ToString ()
