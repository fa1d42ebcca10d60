/// The look shared by every Snn plot: white background (a PNG is otherwise transparent), a title, a legend.
[<RequireQualifiedAccess>]
module Snn.Report.PlotStyle

open System
open OxyPlot
open OxyPlot.Axes
open OxyPlot.Legends

/// A plot model with `title`, a white background and a sans-serif font (DejaVu Sans where installed; Skia falls
/// back to its default typeface otherwise).
let model (title: string) : PlotModel =
    if String.IsNullOrWhiteSpace title then invalidArg "title" "must not be empty: every plot has a title"
    PlotModel (Title = title, Background = OxyColors.White, TitleFontSize = 16.0, DefaultFont = "DejaVu Sans")

/// Ten distinguishable series colours (the common "category10" set), repeated beyond ten series.
let seriesColor (index: int) : OxyColor =
    let colors =
        [| 0x1f77b4; 0xff7f0e; 0x2ca02c; 0xd62728; 0x9467bd; 0x8c564b; 0xe377c2; 0x7f7f7f; 0xbcbd22; 0x17becf |]
    let c = colors.[index % colors.Length]
    OxyColor.FromRgb (byte (c >>> 16), byte ((c >>> 8) &&& 0xff), byte (c &&& 0xff))

/// Adds a one-row legend below the plot area (outside it, so it never hides data).
let addLegend (model: PlotModel) : unit =
    model.Legends.Add (Legend (LegendPosition = LegendPosition.BottomCenter, LegendPlacement = LegendPlacement.Outside,
                               LegendOrientation = LegendOrientation.Horizontal, LegendBorder = OxyColors.Undefined))

/// A linear axis at `position` titled `title`.
let linearAxis (position: AxisPosition) (title: string) : LinearAxis =
    LinearAxis (Position = position, Title = title, MajorGridlineStyle = LineStyle.Dot, MajorGridlineColor = OxyColors.LightGray)

/// A category axis at `position` titled `title` with one label per category.
let categoryAxis (position: AxisPosition) (title: string) (labels: string seq) : CategoryAxis =
    let axis = CategoryAxis (Position = position, Title = title)
    axis.Labels.AddRange labels
    axis

/// White-to-dark-blue colour scale for counts (0 stays white so empty cells read as empty).
let countPalette : OxyPalette =
    OxyPalette.Interpolate (256, OxyColors.White, OxyColor.FromRgb (107uy, 174uy, 214uy), OxyColor.FromRgb (8uy, 48uy, 107uy))

/// The values of a tensor as float (float64), detached and copied to the CPU, flattened in row-major order.
let values (t: TorchSharp.torch.Tensor) : float[] =
    use cpu = t.detach().cpu().to_type TorchSharp.torch.ScalarType.Float64
    cpu.data<float>().ToArray ()
