/// Event streams from event cameras and their integration into frames.
namespace Snn.Data

open System
open TorchSharp
open Snn.Tensors

/// Events of an event camera (a DVS), stored as parallel arrays sorted by time.
/// x ∈ [0, Width), y ∈ [0, Height), t in microseconds, polarity true = ON (brighter), false = OFF.
type CameraEvents =
    { /// Sensor width in pixels.
      Width: int
      /// Sensor height in pixels.
      Height: int
      /// Column of each event.
      X: int16[]
      /// Row of each event.
      Y: int16[]
      /// Timestamp of each event in microseconds, non-decreasing.
      T: int64[]
      /// Polarity of each event: true = ON, false = OFF.
      P: bool[] }

    /// The number of events.
    member e.Count = e.T.Length

/// Events of a silicon cochlea or of a spike-encoded audio front end (SHD, SSC, N-TIDIGITS), stored as parallel
/// arrays sorted by time. Channel ∈ [0, Channels), t in microseconds.
type AudioEvents =
    { /// Number of frequency channels of the sensor (700 for SHD/SSC, 64 for N-TIDIGITS).
      Channels: int
      /// Channel of each event.
      Channel: int16[]
      /// Timestamp of each event in microseconds, non-decreasing.
      T: int64[] }

    /// The number of events.
    member e.Count = e.T.Length

/// A labelled camera recording (one sample of a dataset).
type CameraSample =
    { /// The events of the sample.
      Events: CameraEvents
      /// Class index, 0-based.
      Label: int }

/// A labelled audio recording (one sample of a dataset).
type AudioSample =
    { /// The events of the sample.
      Events: AudioEvents
      /// Class index, 0-based.
      Label: int }

/// Functions on camera event streams.
[<RequireQualifiedAccess>]
module Events =

    /// Checks that the arrays agree in length, coordinates lie on the sensor and time does not decrease;
    /// raises InvalidDataException naming the first offending event.
    let validate (events: CameraEvents) : CameraEvents =
        let n = events.T.Length
        if events.Width <= 0 || events.Height <= 0 then
            invalidArg "events" $"sensor size must be positive, got {events.Width}x{events.Height}"
        if events.X.Length <> n || events.Y.Length <> n || events.P.Length <> n then
            invalidArg "events" $"X, Y, T, P must have the same length, got {events.X.Length}, {events.Y.Length}, {n}, {events.P.Length}"
        for i in 0 .. n - 1 do
            if int events.X.[i] < 0 || int events.X.[i] >= events.Width || int events.Y.[i] < 0 || int events.Y.[i] >= events.Height then
                raise (IO.InvalidDataException($"event {i}: ({events.X.[i]}, {events.Y.[i]}) lies outside the {events.Width}x{events.Height} sensor"))
            if i > 0 && events.T.[i] < events.T.[i - 1] then
                raise (IO.InvalidDataException($"event {i}: timestamp {events.T.[i]} us is earlier than the previous one ({events.T.[i - 1]} us)"))
        events

    /// Checks that the arrays agree in length, channels lie in [0, Channels) and time does not decrease;
    /// raises InvalidDataException naming the first offending event.
    let validateAudio (events: AudioEvents) : AudioEvents =
        let n = events.T.Length
        if events.Channels <= 0 then invalidArg "events" $"the channel count must be positive, got {events.Channels}"
        if events.Channel.Length <> n then
            invalidArg "events" $"Channel and T must have the same length, got {events.Channel.Length} and {n}"
        for i in 0 .. n - 1 do
            if int events.Channel.[i] < 0 || int events.Channel.[i] >= events.Channels then
                raise (IO.InvalidDataException($"event {i}: channel {events.Channel.[i]} lies outside [0, {events.Channels})"))
            if i > 0 && events.T.[i] < events.T.[i - 1] then
                raise (IO.InvalidDataException($"event {i}: timestamp {events.T.[i]} us is earlier than the previous one ({events.T.[i - 1]} us)"))
        events

    /// The stable time order of timestamps (ties keep their index order), or None when they are already sorted.
    let private stableTimeOrder (t: int64[]) : int[] option =
        let mutable sorted = true
        for i in 1 .. t.Length - 1 do
            if t.[i] < t.[i - 1] then sorted <- false
        if sorted then None
        else Some (Array.init t.Length id |> Array.sortWith (fun a b -> compare (t.[a], a) (t.[b], b)))

    /// Returns the events in time order; a stable sort keeps the file order of simultaneous events. Readers call it
    /// because a few recordings store events slightly out of order, and every consumer here assumes sorted time.
    let sortByTime (events: CameraEvents) : CameraEvents =
        match stableTimeOrder events.T with
        | None -> events
        | Some order ->
            { events with
                X = order |> Array.map (fun i -> events.X.[i])
                Y = order |> Array.map (fun i -> events.Y.[i])
                T = order |> Array.map (fun i -> events.T.[i])
                P = order |> Array.map (fun i -> events.P.[i]) }

    /// Audio events in time order (stable, see `sortByTime`).
    let sortAudioByTime (events: AudioEvents) : AudioEvents =
        match stableTimeOrder events.T with
        | None -> events
        | Some order ->
            { events with
                Channel = order |> Array.map (fun i -> events.Channel.[i])
                T = order |> Array.map (fun i -> events.T.[i]) }

    /// The events with index in [start, stop) (a view copied into new arrays).
    let slice (start: int) (stop: int) (events: CameraEvents) : CameraEvents =
        { events with
            X = events.X.[start .. stop - 1]; Y = events.Y.[start .. stop - 1]
            T = events.T.[start .. stop - 1]; P = events.P.[start .. stop - 1] }

    /// Keeps the events for which `keep i` is true (i is the event index), preserving order.
    let filteri (keep: int -> bool) (events: CameraEvents) : CameraEvents =
        let chosen = Array.init events.Count id |> Array.filter keep
        { events with
            X = chosen |> Array.map (fun i -> events.X.[i]); Y = chosen |> Array.map (fun i -> events.Y.[i])
            T = chosen |> Array.map (fun i -> events.T.[i]); P = chosen |> Array.map (fun i -> events.P.[i]) }

