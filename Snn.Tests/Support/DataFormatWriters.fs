/// Independent writers of the published dataset formats, used to make test files. They write each format byte by
/// byte from its specification and share no code with the readers in Snn.Data, so a misreading of the format in a
/// reader cannot be mirrored here. HDF5 files are written with PureHDF's writer.
module Snn.Tests.DataFormatWriters

open System
open System.IO
open System.IO.Compression
open System.Text
open PureHDF

/// An event as the tests describe it: x, y, t (µs), ON.
type Ev = { X: int; Y: int; T: int64; On: bool }

let private le16 (v: int) = [| byte v; byte (v >>> 8) |]
let private le32 (v: int64) = [| byte v; byte (v >>> 8); byte (v >>> 16); byte (v >>> 24) |]
let private be32 (v: int64) = [| byte (v >>> 24); byte (v >>> 16); byte (v >>> 8); byte v |]

/// N-MNIST `.bin`: 5 bytes per event, x, y, polarity in bit 7 of byte 2 with timestamp bits 22..16 below it, then
/// timestamp bits 15..8 and 7..0. `overflowAfter` inserts the y = 240 overflow marker after those event indices
/// (each marker adds 2^13 µs to later timestamps, so the event times given must already include it).
let nmnist (events: Ev list) (overflowAfter: Set<int>) : byte[] =
    let mutable added = 0L
    [| for i, e in List.indexed events do
        let stamp = e.T - added
        yield byte e.X
        yield byte e.Y
        yield byte ((if e.On then 0x80L else 0L) ||| ((stamp >>> 16) &&& 0x7FL))
        yield byte ((stamp >>> 8) &&& 0xFFL)
        yield byte (stamp &&& 0xFFL)
        if overflowAfter.Contains i then
            yield! [| 0uy; 240uy; 0uy; 0uy; 0uy |]
            added <- added + 8192L |]

/// An AEDAT 3.1 packet header (28 bytes, little-endian).
let aedat3PacketHeader (eventType: int) (eventSize: int) (overflow: int64) (capacity: int) (number: int) : byte[] =
    Array.concat [ le16 eventType; le16 1; le32 (int64 eventSize); le32 4L; le32 overflow; le32 (int64 capacity); le32 (int64 number); le32 (int64 number) ]

/// An AEDAT 3.1 file: the ASCII header, then one polarity packet (type 1) per group of events sharing the same
/// timestamp-overflow value (t >>> 31), each preceded by a special-event packet (type 0) that readers must skip.
/// `invalid` events are written with the valid bit cleared.
let aedat3 (events: Ev list) (invalid: Ev list) : byte[] =
    let header = Encoding.ASCII.GetBytes "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01\r\n#!END-HEADER\r\n"
    let polarity (valid: bool) (e: Ev) =
        let data = (int64 e.X <<< 17) ||| (int64 e.Y <<< 2) ||| (if e.On then 2L else 0L) ||| (if valid then 1L else 0L)
        Array.append (le32 data) (le32 (e.T &&& 0x7FFFFFFFL))
    let all = (events |> List.map (fun e -> true, e)) @ (invalid |> List.map (fun e -> false, e)) |> List.sortBy (fun (_, e) -> e.T)
    let packets =
        all
        |> List.groupBy (fun (_, e) -> e.T >>> 31)
        |> List.collect (fun (overflow, group) ->
            let special = Array.append (aedat3PacketHeader 0 8 overflow 1 1) (Array.append (le32 0x0000_0001L) (le32 0L))
            let body = group |> List.map (fun (valid, e) -> polarity valid e) |> Array.concat
            [ special; aedat3PacketHeader 1 8 overflow group.Length group.Length; body ])
    Array.concat (header :: packets)

/// A DVS128 Gesture `_labels.csv`: the header, then class (1-based), start and end in µs.
let gestureLabels (rows: (int * int64 * int64) list) : byte[] =
    let lines = "class,startTime_usec,endTime_usec" :: (rows |> List.map (fun (c, s, e) -> $"{c},{s},{e}"))
    Encoding.ASCII.GetBytes (String.Join ("\r\n", lines) + "\r\n")

/// A jAER AEDAT 2.0 file of a DVS128: header lines, then big-endian (address, timestamp) pairs, the address holding
/// y in bits 8..14, 127 − x in bits 1..7 and OFF in bit 0.
let aedat2 (events: Ev list) : byte[] =
    let header = Encoding.ASCII.GetBytes "#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n# Timestamps tick is 1 us\r\n"
    let body =
        events |> List.map (fun e ->
            let address = (int64 e.Y <<< 8) ||| (int64 (127 - e.X) <<< 1) ||| (if e.On then 0L else 1L)
            Array.append (be32 address) (be32 e.T))
    Array.concat (header :: body)

/// An IDX file of unsigned bytes with the given shape.
let idxBytes (shape: int list) (data: byte[]) : byte[] =
    Array.concat [ [| 0uy; 0uy; 0x08uy; byte shape.Length |]; shape |> List.map (int64 >> be32) |> Array.concat; data ]

/// Gzip-compresses bytes.
let gzip (bytes: byte[]) : byte[] =
    use output = new MemoryStream ()
    do
        use gz = new GZipStream (output, CompressionLevel.Fastest, true)
        gz.Write (bytes, 0, bytes.Length)
    output.ToArray ()

/// Writes an HDF5 file to bytes with PureHDF.
let private h5Bytes (file: H5File) : byte[] =
    use stream = new MemoryStream ()
    file.Write stream
    stream.ToArray ()

/// An SHD/SSC file: /spikes/times (vlen float32 seconds), /spikes/units (vlen uint16), /labels (uint16).
let shd (samples: (float32[] * uint16[] * uint16) list) : byte[] =
    let file = H5File ()
    let spikes = H5Group ()
    spikes.["times"] <- samples |> List.map (fun (t, _, _) -> t) |> List.toArray
    spikes.["units"] <- samples |> List.map (fun (_, u, _) -> u) |> List.toArray
    file.["spikes"] <- spikes
    file.["labels"] <- samples |> List.map (fun (_, _, l) -> l) |> List.toArray
    h5Bytes file

/// An SHD file whose times are float64 and units uint32, as another writer might store them.
let shdWide (samples: (float[] * uint32[] * int) list) : byte[] =
    let file = H5File ()
    let spikes = H5Group ()
    spikes.["times"] <- samples |> List.map (fun (t, _, _) -> t) |> List.toArray
    spikes.["units"] <- samples |> List.map (fun (_, u, _) -> u) |> List.toArray
    file.["spikes"] <- spikes
    file.["labels"] <- samples |> List.map (fun (_, _, l) -> int64 l) |> List.toArray
    h5Bytes file

/// An `n-tidigits.hdf5` with one split: /{split}_labels (strings), /{split}_timestamps/ID (float64 seconds),
/// /{split}_addresses/ID (uint8 channels).
let ntidigits (split: string) (utterances: (string * float[] * byte[]) list) : byte[] =
    let file = H5File ()
    let times = H5Group ()
    let addresses = H5Group ()
    for id, t, a in utterances do
        times.[id] <- t
        addresses.[id] <- a
    file.[$"{split}_labels"] <- utterances |> List.map (fun (id, _, _) -> id) |> List.toArray
    file.[$"{split}_timestamps"] <- times
    file.[$"{split}_addresses"] <- addresses
    h5Bytes file
