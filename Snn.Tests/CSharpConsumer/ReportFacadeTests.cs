using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Xml.Linq;
using Snn.CSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class ReportFacadeTests
{
    private static (int Width, int Height) PngSize(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        return ((int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16, 4)), (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20, 4)));
    }

    [Fact]
    public void PlotsAndRunFolderAreWrittenFromCSharp()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"snn-csharp-report-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var history = Enumerable.Range(1, 3)
                .Select(e => new TrainingEpoch(e, 1e-3, 1.0 / e, 0.3 * e, 0.25 * e, 2.0, 0.5, new[] { 1 }, new Dictionary<string, double>()))
                .ToList();
            var spikes = (rand(12, 2, 10) > 0.7).to_type(ScalarType.Float32);

            var curves = Path.Combine(folder, "curves.png");
            Reports.WriteTrainingCurves(curves, history, width: 500, height: 300);
            Assert.Equal((500, 300), PngSize(curves));

            var raster = Path.Combine(folder, "raster.svg");
            Reports.WriteSpikeRaster(raster, spikes, sample: 1, title: "C# raster");
            var texts = XDocument.Load(raster, LoadOptions.None).Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value);
            Assert.Contains("C# raster", texts);

            var bars = Path.Combine(folder, "synops.png");
            Reports.WriteGroupedBars(bars, "SynOps", "layer", "SynOps", new[] { "a", "b" },
                new[] { new BarSeriesValues("threshold x1", new[] { 10.0, 5.0 }), new BarSeriesValues("threshold x2", new[] { 4.0, 1.0 }) });
            Assert.Equal((Reports.DefaultWidth, Reports.DefaultHeight), PngSize(bars));

            var error = Assert.ThrowsAny<ArgumentException>(() =>
                Reports.WriteConfusionMatrix(Path.Combine(folder, "c.png"), new[,] { { 1, 0 }, { 0, 1 } }, new[] { "only one" }));
            Assert.Equal("classNames", error.ParamName);

            var written = Reports.WriteRunFolder(Path.Combine(folder, "run"), history, new[,] { { 3, 1 }, { 0, 4 } }, new[] { "x", "y" },
                spikeSamples: new Dictionary<string, Tensor> { ["hidden"] = spikes },
                activations: new Dictionary<string, Tensor> { ["hidden"] = spikes }, width: 400, height: 300);
            Assert.Equal(new[] { "history.json", "curves.png", "confusion.png", "raster-hidden.png", "activation-hidden.png" },
                written.Where(p => !p.Contains("tensorboard")).Select(Path.GetFileName));
            Assert.All(written.Where(p => p.EndsWith(".png")), p => Assert.Equal((400, 300), PngSize(p)));
            Assert.StartsWith("events.out.tfevents.", Path.GetFileName(written[1]));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
