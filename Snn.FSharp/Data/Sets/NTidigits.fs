/// N-TIDIGITS (Anumula et al. 2018): the TIDIGITS spoken digits played to a 64-channel silicon cochlea
/// (CochleaAMS1b). One HDF5 file, `n-tidigits.hdf5`, holds both splits:
///   /train_labels, /test_labels          strings, one sample id per sample, e.g. "man-ae-1o5" or "woman-xx-z"
///   /train_addresses/ID, /test_addresses/ID    integers, the channel (0..63) of each spike
///   /train_timestamps/ID, /test_timestamps/ID  floats, spike times in SECONDS (converted here to microseconds)
/// The last '-'-separated part of an id spells the digits: 'z' = zero, 'o' = "oh", '1'..'9'. Isolated digits give
/// the 11 classes of the usual benchmark: 0..9 for the digits zero..nine, 10 for "oh".
[<RequireQualifiedAccess>]
module Snn.Data.NTidigits

open System.IO

/// Number of cochlea channels.
let channels = 64

/// Names of the 11 isolated-digit classes, indexed by label.
let classNames = [| "zero"; "one"; "two"; "three"; "four"; "five"; "six"; "seven"; "eight"; "nine"; "oh" |]

/// One recorded utterance.
type Utterance =
    { /// The sample id of the file, e.g. "man-ae-1o5".
      Id: string
      /// The spoken digits as class indices (see `classNames`); one element for an isolated digit.
      Digits: int[]
      /// The spikes.
      Events: AudioEvents }

/// The class of one digit character of a sample id, or None.
let digitOf (c: char) : int option =
    match c with
    | 'z' -> Some 0
    | 'o' -> Some 10
    | c when c >= '1' && c <= '9' -> Some (int c - int '0')
    | _ -> None

/// Reads every utterance of a split from a stream; `file` names the source in errors. Raises
/// InvalidDataException naming the file and the HDF5 object for a malformed file or sample id.
let readStream (file: string) (train: bool) (stream: Stream) : Utterance[] =
    let split = if train then "train" else "test"
    Hdf5Spikes.serialized <| fun () ->
    use h5 = Hdf5Spikes.openStream file stream
    let dataset = Hdf5Spikes.dataset file stream.Length h5
    let ids = Hdf5Spikes.readStrings file $"{split}_labels" (dataset $"{split}_labels")
    ids |> Array.map (fun raw ->
        let id = if isNull raw then "" else raw.TrimEnd '\000'
        let spelled = id.Substring (id.LastIndexOf '-' + 1)
        let digits = spelled.ToCharArray () |> Array.map digitOf
        if spelled = "" || digits |> Array.exists Option.isNone then
            Hdf5Spikes.invalidObject file $"{split}_labels" $"sample id '{id}' does not end in digits (z, o, 1..9)"
        let timesPath, addressesPath = $"{split}_timestamps/{id}", $"{split}_addresses/{id}"
        let times = Hdf5Spikes.readNumbers file timesPath (dataset timesPath)
        let addresses = Hdf5Spikes.readNumbers file addressesPath (dataset addressesPath)
        if times.Length <> addresses.Length then
            Hdf5Spikes.invalidObject file addressesPath $"{addresses.Length} addresses but {times.Length} timestamps"
        { Id = id
          Digits = digits |> Array.map Option.get
          Events =
            { Channels = channels
              Channel = Hdf5Spikes.toChannels file addressesPath channels addresses
              T = Hdf5Spikes.toMicroseconds file timesPath times }
            |> Events.sortAudioByTime })

/// Reads every utterance of a split of `n-tidigits.hdf5`.
let read (path: string) (train: bool) : Utterance[] =
    use stream = File.OpenRead path
    readStream path train stream

/// The isolated-digit utterances as labelled samples (11 classes); multi-digit sequences are left out.
let isolated (utterances: Utterance[]) : AudioSample[] =
    utterances |> Array.filter (fun u -> u.Digits.Length = 1) |> Array.map (fun u -> { Events = u.Events; Label = u.Digits.[0] })
