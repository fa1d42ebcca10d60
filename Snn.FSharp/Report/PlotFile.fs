/// Writing OxyPlot models to PNG (rendered by SkiaSharp) and SVG (OxyPlot's own exporter), atomically.
namespace Snn.Report

open System
open System.IO
open OxyPlot

/// The size of a written plot in pixels (PNG: exact bitmap size at 96 dpi; SVG: the document's width and height).
type PlotSize =
    { /// Width in pixels, 16..16384.
      Width: int
      /// Height in pixels, 16..16384.
      Height: int }

    /// 900 x 600 pixels.
    static member Default = { Width = 900; Height = 600 }

/// Writes plot models to files.
[<RequireQualifiedAccess>]
module PlotFile =

    let private validate (size: PlotSize) =
        let check name value =
            if value < 16 || value > 16384 then invalidArg "size" $"{name} must lie in [16, 16384] pixels, got {value}"
        check "Width" size.Width
        check "Height" size.Height

    // OxyPlot catches exceptions of a model's update and draws their text into the image instead; such an image
    // is refused, so a broken plot never reaches the target file.
    let private checkRendered (path: string) (model: PlotModel) =
        match model.GetLastPlotException () with
        | null -> ()
        | e -> raise (InvalidOperationException ($"{path}: the plot could not be drawn: {e.Message}", e))

    let private create (path: string) (write: Stream -> unit) =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "must name a file"
        let directory = Path.GetDirectoryName (Path.GetFullPath path)
        if not (Directory.Exists directory) then
            raise (DirectoryNotFoundException $"{path}: the folder {directory} does not exist")
        Snn.AtomicFile.write path (fun temporary ->
            use stream = File.Create temporary
            write stream)

    /// Whether Skia finds any installed font. Without one (a bare container with no font files) Skia's default
    /// typeface has no font data: HarfBuzz text shaping would throw on it, and plain drawing draws no glyphs.
    let fontsInstalled : Lazy<bool> =
        lazy
            NativeSkia.ensure ()
            use typeface = global.SkiaSharp.SKTypeface.FromFamilyName "DejaVu Sans"
            not (isNull typeface) && (use data = typeface.OpenStream () in not (isNull data) && data.Length > 0)

    /// Renders `model` to a PNG of exactly `size` pixels (96 dpi) at `path`: temporary file, then rename. Text is
    /// shaped with HarfBuzz when fonts are installed; without fonts the plot is still drawn, without its text.
    let writePng (path: string) (size: PlotSize) (model: PlotModel) : unit =
        if isNull model then nullArg "model"
        validate size
        NativeSkia.ensure ()
        let shaping = fontsInstalled.Force ()
        create path (fun stream ->
            let exporter =
                OxyPlot.SkiaSharp.PngExporter (Width = size.Width, Height = size.Height, Dpi = 96.0f, UseTextShaping = shaping)
            exporter.Export (model, stream)
            checkRendered path model)

    /// Writes `model` as an SVG document of `size` pixels at `path` (OxyPlot's exporter; text is measured with
    /// OxyPlot's built-in font metrics, so no native library or installed font is needed).
    let writeSvg (path: string) (size: PlotSize) (model: PlotModel) : unit =
        if isNull model then nullArg "model"
        validate size
        create path (fun stream ->
            let exporter = SvgExporter (Width = float size.Width, Height = float size.Height, IsDocument = true)
            exporter.Export (model, stream)
            checkRendered path model)

    /// Writes PNG or SVG by the extension of `path` (.png or .svg, any case).
    let write (path: string) (size: PlotSize) (model: PlotModel) : unit =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "must name a file"
        match Path.GetExtension(path).ToLowerInvariant () with
        | ".png" -> writePng path size model
        | ".svg" -> writeSvg path size model
        | other -> invalidArg "path" $"{path}: the extension '{other}' is neither .png nor .svg"
