using System;
using System.IO;
using System.Linq;
using Snn.CSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class DataFacadeTests
{
    private static byte[] NMnistEvent(int x, int y, int t, bool on) =>
        new[] { (byte)x, (byte)y, (byte)((on ? 0x80 : 0) | ((t >> 16) & 0x7F)), (byte)(t >> 8), (byte)t };

    [Fact]
    public void ReadsAnNMnistFileAndIntegratesFrames()
    {
        var folder = Directory.CreateTempSubdirectory("snn-facade-");
        try
        {
            var digit = Directory.CreateDirectory(Path.Combine(folder.FullName, "4"));
            var path = Path.Combine(digit.FullName, "00001.bin");
            File.WriteAllBytes(path, NMnistEvent(1, 2, 10, true).Concat(NMnistEvent(33, 33, 70_000, false)).ToArray());
            var recording = NeuromorphicData.ReadNMnist(path);
            Assert.Equal(4, recording.Label);
            Assert.Equal(new long[] { 10, 70_000 }, recording.T);
            using var scope = NewDisposeScope();
            var frames = EventFrames.Integrate(recording, 2, FrameSplit.ByTime);
            Assert.Equal(new long[] { 2, 2, 34, 34 }, frames.shape);
            Assert.Equal(1f, frames[0, 1, 2, 1].item<float>());
            Assert.Equal(1f, frames[1, 0, 33, 33].item<float>());
        }
        finally { folder.Delete(true); }
    }

    [Fact]
    public void MalformedFilesRaiseInvalidDataException()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
            var e = Assert.Throws<InvalidDataException>(() => NeuromorphicData.ReadNMnist(path));
            Assert.Contains("byte 0", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BinsAudioPerChannel()
    {
        using var scope = NewDisposeScope();
        var bins = EventFrames.AudioBins(new AudioRecording(4, new short[] { 3, 0 }, new long[] { 10, 2500 }, 1), 1000);
        Assert.Equal(new long[] { 3, 4 }, bins.shape);
        Assert.Equal(1f, bins[0, 3].item<float>());
        Assert.Equal(1f, bins[2, 0].item<float>());
    }
}
