/// The Spiking Heidelberg Digits (SHD, 20 classes) and Spiking Speech Commands (SSC, 35 classes) (Cramer et al.
/// 2020): spoken words turned into spikes of 700 cochlea channels. One HDF5 file per split (`shd_train.h5`, ...).
///
/// HDF5 layout, one row per sample:
///   /spikes/times   variable-length float sequences, spike times in SECONDS (converted here to microseconds)
///   /spikes/units   variable-length integer sequences, the channel (0..699) of each spike
///   /labels         integers, the class of each sample
/// (`/extra/...` holds speakers and key names and is not needed to train.)
[<RequireQualifiedAccess>]
module Snn.Data.Shd

open System.IO

/// Number of cochlea channels.
let channels = 700

/// Reads every sample of an SHD/SSC file from a stream (for example a MemoryStream); `file` names the source in
/// errors. Raises InvalidDataException naming the file and the HDF5 object for any malformation: not HDF5,
/// missing datasets, row counts that disagree, times that are not seconds ≥ 0, channels outside 0..699.
let readStream (file: string) (stream: Stream) : AudioSample[] =
    Hdf5Spikes.serialized <| fun () ->
    use h5 = Hdf5Spikes.openStream file stream
    let dataset = Hdf5Spikes.dataset file stream.Length h5
    let times = Hdf5Spikes.readSequences file "spikes/times" (dataset "spikes/times")
    let units = Hdf5Spikes.readSequences file "spikes/units" (dataset "spikes/units")
    let labels = Hdf5Spikes.readNumbers file "labels" (dataset "labels")
    if times.Length <> units.Length || times.Length <> labels.Length then
        Hdf5Spikes.invalidObject file "/" $"spikes/times has {times.Length} rows, spikes/units {units.Length}, labels {labels.Length}"
    Array.init times.Length (fun i ->
        let path = $"spikes (sample {i})"
        if times.[i].Length <> units.[i].Length then
            Hdf5Spikes.invalidObject file path $"{times.[i].Length} times but {units.[i].Length} units"
        let label = labels.[i]
        if not (label >= 0.0 && label < 1e6 && label = floor label) then
            Hdf5Spikes.invalidObject file $"labels[{i}]" $"label {label} is not a class index"
        { Label = int label
          Events =
            { Channels = channels
              Channel = Hdf5Spikes.toChannels file path channels units.[i]
              T = Hdf5Spikes.toMicroseconds file path times.[i] }
            |> Events.sortAudioByTime })

/// Reads every sample of an SHD/SSC `.h5` file.
let read (path: string) : AudioSample[] =
    use stream = File.OpenRead path
    readStream path stream
