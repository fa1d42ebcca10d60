using System;
using System.IO;
using System.Linq;
using Snn.CSharp;
using Xunit;

namespace CSharpConsumer.Tests;

public class LoihiFacadeTests
{
    /// <summary>A file of the shared fixtures (../shared/fixtures beside the repository root).</summary>
    private static string Fixture(string relativePath)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "paket.dependencies"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var path = Path.GetFullPath(Path.Combine(dir!.FullName, "..", "shared", "fixtures", relativePath));
        Assert.True(File.Exists(path), $"fixture {path} is missing");
        return path;
    }

    private static string TempPath(string extension) => Path.Combine(Path.GetTempPath(), $"snn-facade-{Guid.NewGuid():N}{extension}");

    /// <summary>Lava's input bias (stored W, H, C) in the emulator's (C, H, W) order: a hand-written .npy reader
    /// for the fixture's little-endian int64 or float layout.</summary>
    private static int[] TinyNetInputBias()
    {
        var bytes = File.ReadAllBytes(Fixture("lava-netx/tinynet/input_bias.npy"));
        var headerLength = BitConverter.ToUInt16(bytes, 8);
        var header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLength);
        var data = 10 + headerLength;
        var count = 16 * 16 * 3;
        double Value(int k) => header.Contains("<f4") ? BitConverter.ToSingle(bytes, data + 4 * k)
            : header.Contains("<f8") ? BitConverter.ToDouble(bytes, data + 8 * k)
            : header.Contains("<i8") ? BitConverter.ToInt64(bytes, data + 8 * k)
            : throw new InvalidDataException(header);
        Assert.Contains("(16, 16, 3", header);
        return Enumerable.Range(0, count).Select(i =>
        {
            int c = i / 256, y = i / 16 % 16, x = i % 16;
            return (int)Value((x * 16 + y) * 3 + c);
        }).ToArray();
    }

    [Fact]
    public void LoadsTinyNetAndDescribesItsLayersInHardwareUnits()
    {
        var net = LoihiNetwork.LoadNetx(Fixture("lava-netx/tiny.net"));
        Assert.Equal(new[] { "input", "conv", "conv" }, net.Layers.Select(l => l.Kind));
        Assert.Equal(new[] { 24, 6, 6 }, net.Layers[1].Shape);
        Assert.Equal((4095, 1024, 25, 6), (net.Layers[1].Du, net.Layers[1].Dv, net.Layers[1].Vth, net.Layers[1].BiasExp));
        Assert.Equal(768 + 864 + 36, net.NeuronCount);
        Assert.Empty(net.Clips);
        Assert.Null(net.Scales);
    }

    [Fact]
    public void RunsTinyNetAndReadsSpikesStateAndCounters()
    {
        var net = LoihiNetwork.LoadNetx(Fixture("lava-netx/tiny.net"));
        var result = net.Run(LoihiInput.Bias(TinyNetInputBias()), new LoihiRunOptions(Steps: 20, ResetInterval: 17, RecordState: true));
        Assert.Equal(3, result.LayerCount);
        Assert.Equal(20, result.Steps);
        var output = result.Spikes(2);
        Assert.Equal(20, output.Length);
        Assert.Equal(36, output[0].Length);
        Assert.Equal(output.Sum(row => row.Count(s => s)), result.SpikeCount(2));
        Assert.True(result.SpikeCount(2) > 0);
        Assert.True(result.HasState);
        Assert.Equal(864, result.Voltage(1)[5].Length);
        Assert.All(result.Voltage(1).SelectMany(v => v), v => Assert.True(Math.Abs(v) < 1 << 23));
        Assert.True(result.SynOps(0).Sum() > 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => result.Spikes(3));
        var stateless = net.Run(LoihiInput.NetworkBias, new LoihiRunOptions(Steps: 3));
        Assert.Throws<InvalidOperationException>(() => stateless.Current(1));
    }

    [Fact]
    public void ThresholdModulationWithoutReloading()
    {
        var net = LoihiNetwork.LoadNetx(Fixture("lava-netx/tiny.net"));
        var bias = LoihiInput.Bias(TinyNetInputBias());
        var own = net.Run(bias, new LoihiRunOptions(Steps: 17));
        var same = net.Run(bias, new LoihiRunOptions(Steps: 17, Thresholds: net.Layers.Select(l => l.Vth).ToArray()));
        var higher = net.Run(bias, new LoihiRunOptions(Steps: 17, Thresholds: net.Layers.Select(l => l.Vth * 2).ToArray()));
        Assert.Equal(own.SpikeCount(1), same.SpikeCount(1));
        Assert.True(higher.SpikeCount(1) < own.SpikeCount(1));
        var error = Assert.ThrowsAny<ArgumentException>(() => net.Run(bias, new LoihiRunOptions(Steps: 5, Thresholds: new[] { 1 })));
        Assert.Contains("Thresholds", error.Message);
    }

    [Fact]
    public void SavesNetxThatRereadsAndValidates()
    {
        var net = LoihiNetwork.LoadNetx(Fixture("lava-netx/tiny.net"));
        var path = TempPath(".net");
        try
        {
            net.SaveNetx(path);
            Assert.Empty(LoihiNetwork.ValidateNetx(path));
            var again = LoihiNetwork.LoadNetx(path);
            Assert.Equal(net.Layers.Select(l => (l.Du, l.Dv, l.Vth, l.Synapses)), again.Layers.Select(l => (l.Du, l.Dv, l.Vth, l.Synapses)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ValidateListsViolationsOfABrokenFile()
    {
        // A NIR file is HDF5 but not NetX: the validator says what is missing instead of throwing.
        var violations = LoihiNetwork.ValidateNetx(Fixture("nir/lif_norse.nir"));
        Assert.Contains("layer: the group is missing", violations);
        var missing = TempPath(".net");
        Assert.Throws<FileNotFoundException>(() => LoihiNetwork.ValidateNetx(missing));
        var text = TempPath(".net");
        File.WriteAllText(text, "not HDF5");
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => LoihiNetwork.LoadNetx(text));
            Assert.Contains(text, error.Message);
        }
        finally
        {
            File.Delete(text);
        }
    }

    [Fact]
    public void LoadsNirThroughTheQuantizerAndSavesItBack()
    {
        var net = LoihiNetwork.LoadNir(Fixture("nir/lif_norse.nir"), dt: 1e-4);
        Assert.Equal(new[] { "input", "dense" }, net.Layers.Select(l => l.Kind));
        Assert.Equal(164, net.Layers[1].Dv);
        Assert.Empty(net.Clips);
        Assert.Equal(2, net.Scales!.Count);
        // The CSV's first column holds Norse's input spikes; the emulator answers one step later than Norse.
        var rows = File.ReadAllLines(Fixture("nir/lif_norse.csv")).Where(l => l.Trim().Length > 0)
            .Select(l => l.Split(',').Select(x => double.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var input = rows.Select(r => new[] { r[0] > 0.5 }).ToArray();
        var result = net.Run(LoihiInput.Spikes(input), new LoihiRunOptions(Steps: rows.Length));
        var emulated = result.Spikes(1).Select((row, t) => (row[0], t)).Where(p => p.Item1).Select(p => p.t);
        var norse = rows.Select((r, t) => (r[2], t)).Where(p => p.Item1 > 0.5).Select(p => p.t + 1);
        Assert.Equal(norse, emulated);
        var lower = net.ThresholdMantissas(new[] { 0.0, 0.05 });
        Assert.True(lower[1] < net.Layers[1].Vth);
        var path = TempPath(".nir");
        try
        {
            net.SaveNir(path, 1e-4);
            var again = LoihiNetwork.LoadNir(path, 1e-4, new[] { 1.0, 1.0 });
            Assert.Equal(net.Layers.Skip(1).Select(l => (l.Du, l.Dv, l.Vth)), again.Layers.Skip(1).Select(l => (l.Du, l.Dv, l.Vth)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ProfileReturnsAReportRecord()
    {
        var net = LoihiNetwork.LoadNetx(Fixture("lava-netx/tiny.net"));
        var report = net.Profile(LoihiInput.Bias(TinyNetInputBias()), new LoihiRunOptions(Steps: 17, ResetInterval: 17));
        Assert.True(report.Fits);
        Assert.Equal(3, report.Layers.Count);
        Assert.Equal(17, report.Steps);
        Assert.True(report.EnergyPerStep > 0);
        Assert.NotNull(report.EnergyPerSample);
        Assert.Contains("Davies", report.Chip);
        Assert.True(report.Layers[0].SynOps > 0);
        var loihi2 = net.Profile(LoihiInput.NetworkBias, new LoihiRunOptions(Steps: 2), LoihiChip.Loihi2);
        Assert.Contains("extrapolated", loihi2.Text);
        Assert.Null(loihi2.EnergyPerSample);
    }
}
