/// Fuzzing the dataset readers: for each format, 1,000 mutations of a valid file (truncations, bit flips, wrong
/// headers, huge declared sizes, overwritten blocks), parsed in memory. Every outcome must be either a valid event
/// stream or an InvalidDataException naming the file — never another exception, a hang or an out-of-memory. Mutations
/// that certainly break the format (wrong magic, truncation mid-record, absurd sizes) must be rejected.
module Snn.Tests.DataFuzzTests

open System
open System.IO
open Expecto
open Snn.Data
open Snn.Tests.DataFormatWriters

/// What a mutation did, and whether the result can no longer be a valid file.
type private Mutation = { Bytes: byte[]; Description: string; MustFail: bool }

/// Mutation i of `valid` (deterministic in i). `headerLength`: bytes that identify the format (wrong-header
/// mutations overwrite them); `recordSize`: truncations that leave a partial record must fail when > 1;
/// `sizeFields`: offsets of 32-bit size fields for huge-size mutations, with their endianness.
let private mutate (valid: byte[]) (headerLength: int) (recordSize: int) (dataStart: int) (sizeFields: (int * bool) list) (i: int) : Mutation =
    let rng = Random (7919 * i + 17)
    let copy = Array.copy valid
    match i % 5 with
    | 0 ->
        let cut = rng.Next (0, valid.Length)
        let partial = recordSize > 1 && cut >= dataStart && (cut - dataStart) % recordSize <> 0
        { Bytes = valid.[.. cut - 1]; Description = $"truncated to {cut} bytes"; MustFail = partial }
    | 1 ->
        let flips = rng.Next (1, 9)
        for _ in 1 .. flips do
            let at = rng.Next copy.Length
            copy.[at] <- copy.[at] ^^^ (1uy <<< rng.Next 8)
        { Bytes = copy; Description = $"{flips} bit flips"; MustFail = false }
    | 2 ->
        let at = rng.Next (0, max 1 headerLength)
        let replacement = byte (rng.Next 256)
        let changed = copy.[at] <> replacement
        copy.[at] <- replacement
        { Bytes = copy; Description = $"header byte {at} set to {replacement}"; MustFail = changed && at < headerLength }
    | 3 when not sizeFields.IsEmpty ->
        let offset, bigEndian = sizeFields.[rng.Next sizeFields.Length]
        let value = [| 0x7FFFFFFFu; 0xFFFFFFFFu; 0x40000000u; uint32 (rng.Next ()) ||| 0x10000000u |].[rng.Next 4]
        let bytes = BitConverter.GetBytes value
        Array.blit (if bigEndian then Array.rev bytes else bytes) 0 copy offset 4
        { Bytes = copy; Description = $"size field at {offset} set to {value}"; MustFail = true }
    | _ ->
        let at = rng.Next copy.Length
        let length = min (rng.Next (1, 64)) (copy.Length - at)
        for k in at .. at + length - 1 do copy.[k] <- byte (rng.Next 256)
        { Bytes = copy; Description = $"{length} random bytes at {at}"; MustFail = false }

/// Parses 1,000 mutations; fails on any exception other than InvalidDataException, on a parsed result that does
/// not validate, on an accepted mutation that had to fail, or on a parse with no answer after 60 s (a hang).
let private fuzz (name: string) (count: int) (mutation: int -> Mutation) (parse: string -> byte[] -> unit) =
    let mutable rejected = 0
    for i in 0 .. count - 1 do
        let m = mutation i
        let file = $"{name}-{i}"
        // A dedicated thread (not the thread pool, which parallel tests may starve) so a hang is told from a wait.
        let mutable outcome = None
        let worker = Threading.Thread ((fun () -> outcome <- try parse file m.Bytes; Some None with e -> Some (Some e)), IsBackground = true)
        worker.Start ()
        // PureHDF needs up to ~9 s (and ~2.5 GB) on a few corrupt HDF5 files; a hang is told by no answer in 60 s.
        if not (worker.Join (TimeSpan.FromSeconds 60.0)) then failtestf "%s mutation %d (%s): no answer after 60 s" name i m.Description
        match outcome.Value with
        | None -> if m.MustFail then failtestf "%s mutation %d (%s) was accepted but cannot be valid" name i m.Description
        | Some (:? InvalidDataException as e) ->
            rejected <- rejected + 1
            if not (e.Message.StartsWith file) then failtestf "%s mutation %d: the message does not name the file: %s" name i e.Message
        | Some e -> failtestf "%s mutation %d (%s) raised %s instead of InvalidDataException: %s" name i m.Description (e.GetType().Name) e.Message
    rejected

let private camera (e: CameraEvents) = Events.validate e |> ignore
let private audio (samples: AudioSample[]) = for s in samples do Events.validateAudio s.Events |> ignore

let private someEvents (count: int) (rng: Random) =
    [ for k in 0 .. count - 1 -> { X = rng.Next 34; Y = rng.Next 34; T = int64 k * 37L; On = rng.Next 2 = 0 } ]

let tests =
    testList "Data.Fuzz" [
        test "N-MNIST: 1,000 mutated .bin files end in events or InvalidDataException" {
            let valid = nmnist (someEvents 60 (Random 1)) (Set.ofList [ 20 ])
            let rejected = fuzz "nmnist" 1000 (mutate valid 0 5 0 []) (fun f b -> camera (NMnist.parse f b))
            Expect.isGreaterThan rejected 150 "truncations and off-sensor bytes are caught"
        }
        test "AEDAT 3.1: 1,000 mutated DVS128 Gesture files end in events or InvalidDataException" {
            let events = [ for k in 0 .. 59 -> { X = (k * 7) % 128; Y = (k * 3) % 128; T = int64 k * 100L + (if k > 40 then 1L <<< 31 else 0L); On = k % 3 = 0 } ]
            let valid = aedat3 events []
            let start = Text.Encoding.ASCII.GetString(valid).IndexOf "#!END-HEADER\r\n" + 14
            // Size fields: eventSize and eventCapacity of the first (special) and second (polarity) packet.
            let fields = [ start + 4, false; start + 16, false; start + 36 + 4, false; start + 36 + 16, false ]
            let rejected = fuzz "aedat3" 1000 (mutate valid 10 1 start fields) (fun f b -> camera (Aedat3.parse f 128 128 b))
            Expect.isGreaterThan rejected 300 "most mutations are caught"
        }
        test "AEDAT 2.0: 1,000 mutated CIFAR10-DVS files end in events or InvalidDataException" {
            let events = [ for k in 0 .. 59 -> { X = (k * 5) % 128; Y = (k * 11) % 128; T = int64 k * 50L; On = k % 2 = 0 } ]
            let valid = aedat2 events
            let start = valid.Length - 8 * 60
            let rejected = fuzz "aedat2" 1000 (mutate valid 10 8 start []) (fun f b -> camera (Cifar10Dvs.parse f b))
            Expect.isGreaterThan rejected 150 "truncations and headers are caught"
        }
        test "Gesture labels: 1,000 mutated _labels.csv files end in segments or InvalidDataException" {
            let valid = gestureLabels [ (1, 100L, 200L); (5, 300L, 450L); (11, 500L, 900L) ]
            let rejected =
                fuzz "labels" 1000 (mutate valid 5 1 0 []) (fun f b ->
                    for s in DvsGesture.parseLabels f b do
                        if s.Label < 0 || s.Label > 10 || s.EndUs <= s.StartUs then failwith "accepted an invalid segment")
            Expect.isGreaterThan rejected 300 "most mutations are caught"
        }
        test "IDX: 1,000 mutated files (plain and gzipped) end in arrays or InvalidDataException" {
            let valid = idxBytes [ 4; 6; 5 ] (Array.init 120 byte)
            let fields = [ 4, true; 8, true; 12, true ]
            let check (a: IdxArray) = if int64 a.Data.Length <> int64 a.Count * (match a.TypeCode with 0x08uy | 0x09uy -> 1L | 0x0Buy -> 2L | 0x0Cuy | 0x0Duy -> 4L | _ -> 8L) then failwith "size mismatch"
            let plain = fuzz "idx" 1000 (mutate valid 4 1 16 fields) (fun f b -> check (Idx.parse f b))
            let zipped = fuzz "idxgz" 1000 (mutate (gzip valid) 3 1 0 []) (fun f b -> check (Idx.parse f b))
            Expect.isGreaterThan plain 300 "most plain mutations are caught"
            Expect.isGreaterThan zipped 300 "most gzip mutations are caught"
        }
        test "SHD: 1,000 mutated HDF5 files end in samples or InvalidDataException" {
            let valid = shd [ [| 0.0f; 0.5f; 0.25f |], [| 0us; 699us; 3us |], 7us; [| 0.125f |], [| 9us |], 19us ]
            let rejected =
                fuzz "shd" 1000 (mutate valid 8 1 0 []) (fun f b ->
                    use stream = new MemoryStream (b)
                    audio (Shd.readStream f stream))
            Expect.isGreaterThan rejected 300 "most mutations are caught"
        }
        test "N-TIDIGITS: 1,000 mutated HDF5 files end in utterances or InvalidDataException" {
            let valid = ntidigits "train" [ "man-ae-z", [| 0.1; 0.2 |], [| 63uy; 0uy |]; "woman-xy-1o5", [| 0.3 |], [| 5uy |] ]
            let rejected =
                fuzz "ntidigits" 1000 (mutate valid 8 1 0 []) (fun f b ->
                    use stream = new MemoryStream (b)
                    for u in NTidigits.readStream f true stream do Events.validateAudio u.Events |> ignore)
            Expect.isGreaterThan rejected 300 "most mutations are caught"
        }
    ]
