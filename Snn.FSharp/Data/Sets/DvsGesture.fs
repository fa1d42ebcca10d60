/// DVS128 Gesture (Amir et al. 2017): 29 subjects × lighting conditions recorded with a DVS128 (128x128), one
/// AEDAT 3.1 file per recording (see `Aedat3`), cut into labelled gestures by a CSV file beside it.
///
/// Folder layout (`DvsGesture/`): `userNN_<lighting>.aedat`, `userNN_<lighting>_labels.csv`, and the split lists
/// `trials_to_train.txt` / `trials_to_test.txt` (one `.aedat` file name per line).
/// Labels file: the header `class,startTime_usec,endTime_usec`, then one line per gesture with the class (1..11)
/// and the interval [start, end) in the recording's microseconds.
[<RequireQualifiedAccess>]
module Snn.Data.DvsGesture

open System
open System.IO
open System.Text

/// Sensor width and height in pixels.
let size = 128

/// Names of the 11 classes, indexed by 0-based label (the CSV's class minus one).
let classNames =
    [| "hand clapping"; "right hand wave"; "left hand wave"; "right arm clockwise"; "right arm counter-clockwise"
       "left arm clockwise"; "left arm counter-clockwise"; "arm roll"; "air drums"; "air guitar"; "other gestures" |]

/// One labelled interval of a recording.
type Segment =
    { /// 0-based class index.
      Label: int
      /// First microsecond of the gesture (inclusive), in recording time.
      StartUs: int64
      /// End of the gesture (exclusive), in recording time.
      EndUs: int64 }

/// Parses the text of a `_labels.csv` file. Raises InvalidDataException naming the file and the byte offset of
/// the first bad line (a missing header, a class outside 1..11, an end not after its start).
let parseLabels (file: string) (bytes: byte[]) : Segment[] =
    let text = Encoding.ASCII.GetString bytes
    let segments = Collections.Generic.List<Segment>()
    let mutable offset = 0
    let mutable lineNumber = 0
    for raw in text.Split '\n' do
        let line = raw.TrimEnd('\r').Trim ()
        if lineNumber = 0 then
            if line.Replace(" ", "") <> "class,startTime_usec,endTime_usec" then
                Malformed.at file 0L $"expected the header 'class,startTime_usec,endTime_usec', found '{line}'"
        elif line <> "" then
            let fields = line.Split ','
            let bad () : 'a = Malformed.at file (int64 offset) $"line {lineNumber + 1}: expected 'class,start,end' with class 1..11 and start < end, found '{line}'"
            if fields.Length <> 3 then bad ()
            match Int32.TryParse (fields.[0].Trim ()), Int64.TryParse (fields.[1].Trim ()), Int64.TryParse (fields.[2].Trim ()) with
            | (true, c), (true, s), (true, e) when c >= 1 && c <= 11 && s >= 0L && e > s ->
                segments.Add { Label = c - 1; StartUs = s; EndUs = e }
            | _ -> bad ()
        offset <- offset + raw.Length + 1
        lineNumber <- lineNumber + 1
    if lineNumber = 0 then Malformed.at file 0L "empty labels file"
    segments.ToArray ()

/// Reads a `_labels.csv` file.
let readLabels (path: string) : Segment[] = parseLabels path (Malformed.readAll path)

/// The labels file that belongs to a recording: `X.aedat` → `X_labels.csv`.
let labelsPathOf (aedatPath: string) : string =
    Path.Combine (Path.GetDirectoryName (Path.GetFullPath aedatPath), Path.GetFileNameWithoutExtension aedatPath + "_labels.csv")

/// Cuts a recording into its labelled gestures; the events of a gesture are those with start ≤ t < end, with
/// times shifted so that the gesture starts at 0 µs.
let cut (events: CameraEvents) (segments: Segment[]) : CameraSample[] =
    segments
    |> Array.map (fun s ->
        let lo = Array.BinarySearch (events.T, s.StartUs) |> fun i -> if i >= 0 then i else ~~~i
        let mutable first = lo
        while first > 0 && events.T.[first - 1] >= s.StartUs do first <- first - 1
        let mutable stop = first
        while stop < events.Count && events.T.[stop] < s.EndUs do stop <- stop + 1
        let piece = Events.slice first stop events
        { Label = s.Label; Events = { piece with T = piece.T |> Array.map (fun t -> t - s.StartUs) } })

/// Reads one recording and its `_labels.csv`, and returns its labelled gestures.
let readRecording (aedatPath: string) : CameraSample[] =
    cut (Aedat3.read size size aedatPath) (readLabels (labelsPathOf aedatPath))

/// The recordings of a split, from `trials_to_train.txt` or `trials_to_test.txt` in the dataset folder, as full
/// paths in list order. Raises FileNotFoundException when the list is missing.
let trials (root: string) (train: bool) : string[] =
    let list = Path.Combine (root, (if train then "trials_to_train.txt" else "trials_to_test.txt"))
    if not (File.Exists list) then raise (FileNotFoundException($"{list}: DVS128 Gesture split list not found", list))
    File.ReadAllLines list
    |> Array.map (fun l -> l.Trim ())
    |> Array.filter (fun l -> l <> "")
    |> Array.map (fun name -> Path.Combine (root, name))

/// Every labelled gesture of a split (lazily, one recording at a time).
let samples (root: string) (train: bool) : seq<CameraSample> =
    trials root train |> Seq.collect readRecording
