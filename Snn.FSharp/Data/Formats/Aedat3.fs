/// AEDAT 3.1, the packet format of iniVation's cAER/DV software, as used by DVS128 Gesture.
///
/// Layout: an ASCII header of lines starting with '#', the first `#!AER-DAT3.1`, the last `#!END-HEADER\r\n`; then
/// packets until the end of the file. Each packet is a 28-byte little-endian header
///   int16 eventType, int16 eventSource, int32 eventSize (bytes per event), int32 eventTSOffset,
///   int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid
/// followed by eventCapacity × eventSize bytes of events. Packets of type 1 hold polarity events of 8 bytes:
///   uint32 data: bit 0 = valid, bit 1 = polarity (1 = ON), bits 2..16 = y, bits 17..31 = x
///   int32 timestamp (microseconds); the full time is eventTSOverflow·2^31 + timestamp.
/// Events whose valid bit is 0 are skipped; packets of other types (special events, frames, IMU) are skipped whole.
[<RequireQualifiedAccess>]
module Snn.Data.Aedat3

open System
open System.Buffers.Binary

/// Event type code of polarity events.
let polarityEventType = 1s

/// Decodes the polarity events of an AEDAT 3.x file recorded by a width×height sensor. Raises
/// InvalidDataException naming the file and byte offset for a wrong header, a truncated packet, a packet that
/// declares more bytes than remain, or a coordinate off the sensor.
let parse (file: string) (width: int) (height: int) (bytes: byte[]) : CameraEvents =
    let first = Malformed.firstLine bytes
    if not (first.StartsWith "#!AER-DAT3") then
        Malformed.at file 0L $"not an AEDAT 3 file: the first line must be '#!AER-DAT3.1', found '{first}'"
    let start = Malformed.headerEnd bytes
    // Upper bound of the event count: the bytes after the header hold at most this many 8-byte events.
    let bound = (bytes.Length - start) / 8
    let xs = Array.zeroCreate<int16> bound
    let ys = Array.zeroCreate<int16> bound
    let ts = Array.zeroCreate<int64> bound
    let ps = Array.zeroCreate<bool> bound
    let mutable count = 0
    let mutable offset = start
    while offset < bytes.Length do
        if bytes.Length - offset < 28 then
            Malformed.at file (int64 offset) $"truncated packet header: {bytes.Length - offset} bytes left, 28 needed"
        let span = ReadOnlySpan<byte> (bytes, offset, 28)
        let eventType = BinaryPrimitives.ReadInt16LittleEndian (span.Slice 0)
        let eventSize = BinaryPrimitives.ReadInt32LittleEndian (span.Slice 4)
        let overflow = BinaryPrimitives.ReadInt32LittleEndian (span.Slice 12)
        let capacity = BinaryPrimitives.ReadInt32LittleEndian (span.Slice 16)
        let number = BinaryPrimitives.ReadInt32LittleEndian (span.Slice 20)
        if eventSize <= 0 || capacity < 0 || number < 0 || number > capacity || overflow < 0 then
            Malformed.at file (int64 offset)
                $"invalid packet header: eventSize {eventSize}, eventCapacity {capacity}, eventNumber {number}, eventTSOverflow {overflow}"
        let payload = int64 eventSize * int64 capacity
        let body = offset + 28
        if payload > int64 (bytes.Length - body) then
            Malformed.at file (int64 offset) $"the packet declares {payload} bytes of events but only {bytes.Length - body} remain"
        if eventType = polarityEventType then
            if eventSize <> 8 then Malformed.at file (int64 offset + 4L) $"polarity events must be 8 bytes, the packet says {eventSize}"
            for k in 0 .. capacity - 1 do
                let o = body + 8 * k
                let data = BinaryPrimitives.ReadUInt32LittleEndian (ReadOnlySpan<byte> (bytes, o, 4))
                let stamp = BinaryPrimitives.ReadInt32LittleEndian (ReadOnlySpan<byte> (bytes, o + 4, 4))
                if data &&& 1u <> 0u then
                    let x = int ((data >>> 17) &&& 0x7FFFu)
                    let y = int ((data >>> 2) &&& 0x7FFFu)
                    if x >= width || y >= height then
                        Malformed.at file (int64 o) $"event at ({x}, {y}) lies outside the {width}x{height} sensor"
                    if stamp < 0 then Malformed.at file (int64 o + 4L) $"negative timestamp {stamp}"
                    xs.[count] <- int16 x
                    ys.[count] <- int16 y
                    ps.[count] <- data &&& 2u <> 0u
                    ts.[count] <- (int64 overflow <<< 31) ||| int64 stamp
                    count <- count + 1
        offset <- body + int payload
    { Width = width; Height = height; X = xs.[.. count - 1]; Y = ys.[.. count - 1]; T = ts.[.. count - 1]; P = ps.[.. count - 1] }
    |> Events.sortByTime

/// Reads the polarity events of an AEDAT 3.x file.
let read (width: int) (height: int) (path: string) : CameraEvents = parse path width height (Malformed.readAll path)
