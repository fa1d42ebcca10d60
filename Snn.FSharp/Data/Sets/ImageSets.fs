/// MNIST and Fashion-MNIST as images with labels, read from the four IDX files of a folder (see `Idx`).
[<RequireQualifiedAccess>]
module Snn.Data.ImageSets

open System.IO

/// A set of grey-scale images with labels.
type ImageSet =
    { /// Image width in pixels.
      Width: int
      /// Image height in pixels.
      Height: int
      /// Pixels 0..255, image after image, each row-major: image i, row r, column c is at (i·Height + r)·Width + c.
      Pixels: byte[]
      /// Class of each image.
      Labels: byte[] }

    /// The number of images.
    member s.Count = s.Labels.Length

    /// The pixels of image i (Height·Width bytes, row-major).
    member s.Image (i: int) : byte[] = s.Pixels.[i * s.Width * s.Height .. (i + 1) * s.Width * s.Height - 1]

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST.
let defaultFashionMnistFolder = "/usr/share/datasets/fashion-mnist/"

/// Class names of Fashion-MNIST, indexed by label.
let fashionClassNames =
    [| "T-shirt/top"; "Trouser"; "Pullover"; "Dress"; "Coat"; "Sandal"; "Shirt"; "Sneaker"; "Bag"; "Ankle boot" |]

/// The path of `name` or `name.gz` in the folder, or None.
let private find (folder: string) (name: string) =
    [ Path.Combine (folder, name); Path.Combine (folder, name + ".gz") ] |> List.tryFind File.Exists

/// Loads the training (`train-*`) or test (`t10k-*`) split from a folder holding the MNIST-layout IDX files, plain
/// or gzipped. Raises FileNotFoundException when a file is missing (saying how to install Fashion-MNIST) and
/// InvalidDataException when the files are malformed or disagree in count.
let loadFolder (folder: string) (train: bool) : ImageSet =
    let prefix = if train then "train" else "t10k"
    let locate name =
        match find folder name with
        | Some path -> path
        | None ->
            raise (FileNotFoundException(
                $"{Path.Combine (folder, name)}(.gz) not found. Fashion-MNIST can be installed with "
                + "`apt-get install dataset-fashion-mnist` (into /usr/share/datasets/fashion-mnist/); for MNIST, put the "
                + "four IDX files in a folder and pass that folder.", name))
    let imagesPath, labelsPath = locate $"{prefix}-images-idx3-ubyte", locate $"{prefix}-labels-idx1-ubyte"
    let images, labels = Idx.read imagesPath, Idx.read labelsPath
    if images.TypeCode <> 0x08uy || images.Shape.Length <> 3 then
        Malformed.at imagesPath 2L $"expected unsigned bytes of rank 3 [N; rows; columns], found type 0x{images.TypeCode:X2} rank {images.Shape.Length}"
    if labels.TypeCode <> 0x08uy || labels.Shape.Length <> 1 then
        Malformed.at labelsPath 2L $"expected unsigned bytes of rank 1 [N], found type 0x{labels.TypeCode:X2} rank {labels.Shape.Length}"
    if images.Shape.[0] <> labels.Shape.[0] then
        Malformed.at labelsPath 4L $"{labels.Shape.[0]} labels for {images.Shape.[0]} images in {imagesPath}"
    { Width = images.Shape.[2]; Height = images.Shape.[1]; Pixels = images.Data; Labels = labels.Data }

/// Loads a Fashion-MNIST split from the folder where `apt-get install dataset-fashion-mnist` puts it.
let loadFashionMnist (train: bool) : ImageSet = loadFolder defaultFashionMnistFolder train
