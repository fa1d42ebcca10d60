/// Layer activation maps: the firing rate of every neuron of a layer drawn as an image.
[<RequireQualifiedAccess>]
module Snn.Report.ActivationMap

open System
open OxyPlot
open OxyPlot.Axes
open OxyPlot.Series
open TorchSharp

/// Firing rate per neuron, r = (1 / (T·B)) Σ_t Σ_b s[t, b, ...], in spikes per time step, from time-first spikes
/// [T; B; ...]; the result has the shape of one sample's layer (e.g. [C; H; W] or [N]).
let firingRates (spikes: torch.Tensor) : torch.Tensor =
    if isNull (box spikes) then nullArg "spikes"
    if spikes.shape.Length < 3 then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    if spikes.numel () = 0L then invalidArg "spikes" $"is empty (shape %A{spikes.shape})"
    use asFloat = spikes.detach().to_type torch.ScalarType.Float32
    asFloat.mean ([| 0L; 1L |])

/// The image of `rates` as a grid of (column, row) cells, NaN where no neuron sits, with the grid's width and height:
/// [N] fills a near-square grid row by row; [H; W] is the image itself; [C; H; W] tiles the C channel images in a
/// near-square grid with one empty cell between tiles. Rates must be finite and >= 0.
let image (rates: torch.Tensor) : float[,] * int * int =
    if isNull (box rates) then nullArg "rates"
    let shape = rates.shape |> Array.map int
    if shape.Length < 1 || shape.Length > 3 then invalidArg "rates" $"must be [N], [H; W] or [C; H; W], got shape %A{shape}"
    if shape |> Array.exists ((=) 0) then invalidArg "rates" $"is empty (shape %A{shape})"
    let v = PlotStyle.values rates
    v |> Array.iteri (fun i r ->
        if not (Double.IsFinite r && r >= 0.0) then invalidArg "rates" $"element {i} = {r} is not a finite rate >= 0")
    let grid count = let columns = int (ceil (sqrt (float count))) in columns, (count + columns - 1) / columns
    match shape with
    | [| n |] ->
        let columns, rows = grid n
        Array2D.init columns rows (fun x y -> let i = y * columns + x in if i < n then v.[i] else nan), columns, rows
    | [| h; w |] -> Array2D.init w h (fun x y -> v.[y * w + x]), w, h
    | _ ->
        let c, h, w = shape.[0], shape.[1], shape.[2]
        let tilesX, tilesY = grid c
        let width, height = tilesX * (w + 1) - 1, tilesY * (h + 1) - 1
        let pixel x y =
            let tx, ty, px, py = x / (w + 1), y / (h + 1), x % (w + 1), y % (h + 1)
            let channel = ty * tilesX + tx
            if px = w || py = h || channel >= c then nan else v.[(channel * h + py) * w + px]
        Array2D.init width height pixel, width, height

/// An activation map of `rates` (see `image` for the layouts) with a colour scale from 0 to the largest rate;
/// empty cells are white, row 0 is at the top.
let plot (title: string) (rates: torch.Tensor) : PlotModel =
    let data, width, height = image rates
    let model = PlotStyle.model title
    let finite = data |> Seq.cast<float> |> Seq.filter Double.IsFinite |> Seq.toArray
    model.Subtitle <- $"""{finite.Length} neurons, shape [{String.Join ("; ", rates.shape)}], mean rate {Array.average finite:F4} spikes/step"""
    let x = PlotStyle.linearAxis AxisPosition.Bottom "column"
    x.MajorGridlineStyle <- LineStyle.None
    let y = PlotStyle.linearAxis AxisPosition.Left "row"
    y.MajorGridlineStyle <- LineStyle.None
    y.StartPosition <- 1.0
    y.EndPosition <- 0.0
    model.Axes.Add x
    model.Axes.Add y
    let largest = Array.max finite
    model.Axes.Add (LinearColorAxis (Position = AxisPosition.Right, Palette = OxyPalettes.Viridis 256, Minimum = 0.0,
                                     Maximum = (if largest > 0.0 then largest else 1.0), InvalidNumberColor = OxyColors.White,
                                     Title = "firing rate (spikes per step)"))
    model.Series.Add (HeatMapSeries (X0 = 0.0, X1 = float (width - 1), Y0 = 0.0, Y1 = float (height - 1), Data = data,
                                     CoordinateDefinition = HeatMapCoordinateDefinition.Center, Interpolate = false))
    model

/// Writes the map of `plot` to `path` (.png or .svg by extension) at `size`, atomically.
let write (path: string) (size: PlotSize) (title: string) (rates: torch.Tensor) : unit =
    PlotFile.write path size (plot title rates)
