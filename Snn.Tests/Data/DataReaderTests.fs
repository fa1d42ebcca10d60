/// The dataset readers on files in the published formats, written by the independent writers of
/// DataFormatWriters (never by the readers' own code).
module Snn.Tests.DataReaderTests

open System
open System.IO
open Expecto
open Snn.Data
open Snn.Tests.DataFormatWriters

/// A fresh temporary folder for one test.
let tempFolder (name: string) : string =
    let path = Path.Combine (Path.GetTempPath (), $"snn-data-{name}-{Guid.NewGuid ():N}")
    Directory.CreateDirectory path |> ignore
    path

let private decoded (e: CameraEvents) =
    [ for i in 0 .. e.Count - 1 -> { X = int e.X.[i]; Y = int e.Y.[i]; T = e.T.[i]; On = e.P.[i] } ]

let private throwsInvalid (f: unit -> 'a) (mustMention: string list) =
    try
        f () |> ignore
        failtest "expected InvalidDataException"
    with :? InvalidDataException as e ->
        for text in mustMention do Expect.stringContains e.Message text "the message names the problem"

let private ev x y t on = { X = x; Y = y; T = t; On = on }

let tests =
    testList "Data.Readers" [
        test "N-MNIST: 40-bit events decode x, y, polarity bit 7 and the 23-bit timestamp" {
            let events = [ ev 0 0 0L true; ev 33 1 0x7FFFFFL false; ev 5 33 0x7FFFFFL true ]
            let read = NMnist.parse "a.bin" (nmnist events Set.empty)
            Expect.equal (decoded read) events "the same events"
            Expect.equal (read.Width, read.Height) (34, 34) "34x34"
        }
        test "N-MNIST: the y = 240 overflow marker adds 2^13 us to later events and is dropped" {
            let events = [ ev 1 2 100L true; ev 3 4 (8192L + 50L) false; ev 3 4 (8192L + 60L) true ]
            let read = NMnist.parse "a.bin" (nmnist events (Set.ofList [ 0 ]))
            Expect.equal (decoded read) events "times continue across the marker"
        }
        test "N-MNIST: a truncated event and an off-sensor pixel name the file and the byte offset" {
            let bytes = nmnist [ ev 1 1 1L true; ev 2 2 2L true ] Set.empty
            throwsInvalid (fun () -> NMnist.parse "t.bin" bytes.[.. 7]) [ "t.bin"; "byte 5" ]
            let off = Array.copy bytes
            off.[5] <- 34uy
            throwsInvalid (fun () -> NMnist.parse "o.bin" off) [ "o.bin"; "byte 5"; "(34, 2)" ]
        }
        test "N-MNIST: the Train/<digit>/ folder layout gives paths and labels" {
            let root = tempFolder "nmnist"
            try
                for digit in [ 3; 7 ] do
                    let folder = Path.Combine (root, "Train", string digit)
                    Directory.CreateDirectory folder |> ignore
                    File.WriteAllBytes (Path.Combine (folder, "00002.bin"), nmnist [ ev digit digit (int64 digit) true ] Set.empty)
                let samples = NMnist.samples root true |> Seq.toList
                Expect.equal (samples |> List.map (fun s -> s.Label)) [ 3; 7 ] "labels from folder names"
                Expect.equal (samples |> List.map (fun s -> int s.Events.X.[0])) [ 3; 7 ] "events read"
                Expect.throwsT<DirectoryNotFoundException> (fun () -> NMnist.files root false |> ignore) "no Test folder"
            finally Directory.Delete (root, true)
        }
        test "AEDAT 3.1: polarity packets decode x bits 17+, y bits 2+, polarity bit 1, overflow·2^31 + t; other packets and invalid events are skipped" {
            let events = [ ev 0 0 5L true; ev 127 3 1000L false; ev 64 127 ((1L <<< 31) + 7L) true ]
            let read = Aedat3.parse "g.aedat" 128 128 (aedat3 events [ ev 9 9 500L true ])
            Expect.equal (decoded read) events "valid polarity events only, full 64-bit time"
        }
        test "AEDAT 3.1: a packet declaring more bytes than the file holds is rejected before allocation" {
            let bytes = aedat3 [ ev 1 1 1L true ] []
            let header = Text.Encoding.ASCII.GetString(bytes).IndexOf "#!END-HEADER\r\n" + 14
            let huge = Array.copy bytes
            huge.[header + 16 .. header + 19] |> ignore
            Array.blit [| 0xFFuy; 0xFFuy; 0xFFuy; 0x7Fuy |] 0 huge (header + 16) 4
            Array.blit [| 0x01uy; 0x00uy; 0x00uy; 0x00uy |] 0 huge (header + 20) 4
            throwsInvalid (fun () -> Aedat3.parse "h.aedat" 128 128 huge) [ "h.aedat"; $"byte {header}"; "declares" ]
            throwsInvalid (fun () -> Aedat3.parse "w.aedat" 128 128 (Text.Encoding.ASCII.GetBytes "#!AER-DAT2.0\r\n")) [ "w.aedat"; "byte 0" ]
        }
        test "DVS128 Gesture: labels cut a recording into 0-based classes with times from the gesture start" {
            let root = tempFolder "gesture"
            try
                let events = [ for k in 0 .. 99 -> ev (k % 128) (k % 50) (int64 k * 1000L) (k % 2 = 0) ]
                File.WriteAllBytes (Path.Combine (root, "user01_fluorescent.aedat"), aedat3 events [])
                File.WriteAllBytes (Path.Combine (root, "user01_fluorescent_labels.csv"), gestureLabels [ (1, 10_000L, 20_000L); (11, 50_000L, 90_500L) ])
                File.WriteAllText (Path.Combine (root, "trials_to_train.txt"), "user01_fluorescent.aedat\n\n")
                let samples = DvsGesture.samples root true |> Seq.toList
                Expect.equal (samples |> List.map (fun s -> s.Label)) [ 0; 10 ] "classes 1 and 11 become 0 and 10"
                Expect.equal samples.[0].Events.T [| for k in 0L .. 9L -> k * 1000L |] "[10 ms, 20 ms) shifted to 0"
                Expect.equal samples.[1].Events.Count 41 "[50 ms, 90.5 ms) holds 41 events"
                Expect.equal (int samples.[1].Events.X.[0]) 50 "the first event of the second gesture"
            finally Directory.Delete (root, true)
        }
        test "DVS128 Gesture: a bad labels line names the file and its byte offset" {
            let bytes = gestureLabels [ (1, 10L, 20L); (12, 30L, 40L) ]
            let offset = Text.Encoding.ASCII.GetString(bytes).IndexOf "12,"
            throwsInvalid (fun () -> DvsGesture.parseLabels "l.csv" bytes) [ "l.csv"; $"byte {offset}"; "line 3" ]
        }
        test "CIFAR10-DVS: big-endian AEDAT 2.0 with x mirrored in bits 1..7, y in bits 8..14, OFF in bit 0" {
            let events = [ ev 0 0 10L true; ev 127 5 20L false; ev 3 127 4_000_000_000L true ]
            let read = Cifar10Dvs.parse "c.aedat" (aedat2 events)
            Expect.equal (decoded read) events "decoded as written"
            // The raw address of (x=3, y=127, ON) must be y<<8 | (127-3)<<1 | 0 = 0x7FF8.
            let bytes = aedat2 [ ev 3 127 0L true ]
            let start = bytes.Length - 8
            Expect.equal bytes.[start .. start + 3] [| 0uy; 0uy; 0x7Fuy; 0xF8uy |] "the writer follows the published layout"
            throwsInvalid (fun () -> Cifar10Dvs.parse "c.aedat" bytes.[.. bytes.Length - 3]) [ "c.aedat"; $"byte {start}" ]
            throwsInvalid (fun () -> Cifar10Dvs.parse "n.aedat" bytes.[start ..]) [ "n.aedat"; "byte 0"; "AER-DAT2.0" ]
        }
        test "CIFAR10-DVS: class folders give labels in the published class order" {
            let root = tempFolder "cifar"
            try
                for name, k in [ "truck", 1; "airplane", 10; "airplane", 2 ] do
                    Directory.CreateDirectory (Path.Combine (root, name)) |> ignore
                    File.WriteAllBytes (Path.Combine (root, name, $"cifar10_{name}_{k}.aedat"), aedat2 [ ev k 0 0L true ])
                let files = Cifar10Dvs.files root
                Expect.equal (files |> Array.map snd) [| 0; 0; 9 |] "airplane = 0, truck = 9"
                Expect.stringContains (fst files.[0]) "_2.aedat" "numeric order inside a class"
                Expect.equal ((Cifar10Dvs.samples root |> Seq.head).Events.X) [| 2s |] "events read"
            finally Directory.Delete (root, true)
        }
        test "SHD: vlen times in seconds and units become microseconds and channels" {
            let bytes = shd [ [| 0.0f; 0.5f; 0.25f |], [| 0us; 699us; 3us |], 7us; [||], [||], 19us ]
            use stream = new MemoryStream (bytes)
            let samples = Shd.readStream "s.h5" stream
            Expect.equal (samples |> Array.map (fun s -> s.Label)) [| 7; 19 |] "labels"
            Expect.equal samples.[0].Events.T [| 0L; 250_000L; 500_000L |] "µs, sorted"
            Expect.equal samples.[0].Events.Channel [| 0s; 3s; 699s |] "channels follow their times"
            Expect.equal samples.[1].Events.Count 0 "an empty sample"
            Expect.equal samples.[0].Events.Channels 700 "700 channels"
        }
        test "SHD: float64 times, uint32 units and int64 labels are read too; a unit of 700 is rejected" {
            use ok = new MemoryStream (shdWide [ [| 0.001; 0.002 |], [| 1u; 2u |], 3 ])
            let samples = Shd.readStream "w.h5" ok
            Expect.equal samples.[0].Events.T [| 1000L; 2000L |] "times"
            use bad = new MemoryStream (shdWide [ [| 0.001 |], [| 700u |], 3 ])
            throwsInvalid (fun () -> Shd.readStream "b.h5" bad) [ "b.h5"; "700" ]
            use notHdf5 = new MemoryStream (nmnist [ ev 1 1 1L true ] Set.empty)
            throwsInvalid (fun () -> Shd.readStream "n.h5" notHdf5) [ "n.h5" ]
        }
        test "N-TIDIGITS: sample ids spell the digits (z = 0, o = 10), timestamps in seconds, addresses 0..63" {
            let bytes =
                ntidigits "train"
                    [ "man-ae-z", [| 0.1; 0.2 |], [| 63uy; 0uy |]
                      "woman-xy-1o5", [| 0.3 |], [| 5uy |] ]
            use stream = new MemoryStream (bytes)
            let utterances = NTidigits.readStream "n.hdf5" true stream
            Expect.equal (utterances |> Array.map (fun u -> u.Digits)) [| [| 0 |]; [| 1; 10; 5 |] |] "digits"
            Expect.equal utterances.[0].Events.T [| 100_000L; 200_000L |] "µs"
            Expect.equal utterances.[0].Events.Channel [| 63s; 0s |] "channels"
            Expect.equal (NTidigits.isolated utterances |> Array.map (fun s -> s.Label)) [| 0 |] "only isolated digits"
            use again = new MemoryStream (bytes)
            throwsInvalid (fun () -> NTidigits.readStream "n.hdf5" false again) [ "n.hdf5"; "test_labels" ]
        }
        test "IDX: plain and gzipped MNIST-layout folders load with labels; a missing folder says how to install" {
            let root = tempFolder "idx"
            try
                let pixels = Array.init (3 * 4 * 5) byte
                File.WriteAllBytes (Path.Combine (root, "train-images-idx3-ubyte.gz"), gzip (idxBytes [ 3; 4; 5 ] pixels))
                File.WriteAllBytes (Path.Combine (root, "train-labels-idx1-ubyte"), idxBytes [ 3 ] [| 9uy; 0uy; 4uy |])
                let set = ImageSets.loadFolder root true
                Expect.equal (set.Count, set.Height, set.Width) (3, 4, 5) "shape"
                Expect.equal (set.Image 2) pixels.[40 ..] "pixels of image 2"
                Expect.equal set.Labels [| 9uy; 0uy; 4uy |] "labels"
                let missing = Expect.throwsC (fun () -> ImageSets.loadFolder root false |> ignore) id
                Expect.isTrue (missing :? FileNotFoundException) "FileNotFoundException"
                Expect.stringContains missing.Message "apt-get install dataset-fashion-mnist" "says how to install"
                Expect.equal ImageSets.defaultFashionMnistFolder "/usr/share/datasets/fashion-mnist/" "default folder"
            finally Directory.Delete (root, true)
        }
        test "IDX: dimensions larger than the data are rejected without allocating them" {
            let huge = idxBytes [ 60000; 28; 28 ] (Array.zeroCreate 100)
            throwsInvalid (fun () -> Idx.parse "i" huge) [ "i: byte 116"; "truncated" ]
            let absurd = idxBytes [ 0x7FFFFFFF; 0x7FFFFFFF ] [||]
            throwsInvalid (fun () -> Idx.parse "a" absurd) [ "a: byte 12" ]
            throwsInvalid (fun () -> Idx.parse "g" (gzip huge).[.. 30]) [ "g" ]
        }
    ]
