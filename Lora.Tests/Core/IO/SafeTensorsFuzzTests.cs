using System.Text;
using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>Thousands of seeded mutations of valid files: the readers throw InvalidDataException or succeed, nothing else.</summary>
public class SafeTensorsFuzzTests
{
    const int Mutations = 6000;

    static void RunBounded(Action body)
    {
        // "Nothing hangs": the whole campaign takes well under a second; a minute means a reader is looping.
        var task = Task.Run(body);
        Assert.True(task.Wait(TimeSpan.FromSeconds(60)), "fuzzing did not finish within 60 s");
    }

    static byte[] Mutate(byte[] source, Random rng)
    {
        var b = (byte[])source.Clone();
        int headerEnd = (int)Math.Min(b.Length, 8 + (long)BitConverter.ToUInt64(b, 0));
        switch (rng.Next(8))
        {
            case 0: // bit flips anywhere
                for (int i = rng.Next(1, 4); i > 0; i--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return b;
            case 1: // bit flips in the header, where they matter most
                for (int i = rng.Next(1, 3); i > 0; i--) b[rng.Next(8, headerEnd)] ^= (byte)(1 << rng.Next(8));
                return b;
            case 2: // truncation
                return b[..rng.Next(b.Length)];
            case 3: // a header digit replaced: offsets and shapes off by a little or a lot
            {
                var digits = Enumerable.Range(8, headerEnd - 8).Where(i => b[i] is >= (byte)'0' and <= (byte)'9').ToArray();
                if (digits.Length > 0) b[digits[rng.Next(digits.Length)]] = (byte)('0' + rng.Next(10));
                return b;
            }
            case 4: // a structural character replaced by another
            {
                byte[] pool = "{}[]\",:-.e0123456789 \\"u8.ToArray();
                b[rng.Next(8, headerEnd)] = pool[rng.Next(pool.Length)];
                return b;
            }
            case 5: // the length prefix nudged
            {
                long n = BitConverter.ToInt64(b, 0) + rng.Next(-16, 17) * (rng.Next(4) == 0 ? 1L << rng.Next(20, 63) : 1);
                BitConverter.TryWriteBytes(b, n);
                return b;
            }
            case 6: // a header slice duplicated inside the header (duplicate keys, repeated entries)
            {
                int start = rng.Next(8, headerEnd), len = rng.Next(1, Math.Max(2, (headerEnd - start) / 2));
                len = Math.Min(len, headerEnd - start);
                var h = Encoding.UTF8.GetString(b, 8, headerEnd - 8);
                var piece = h.Substring(start - 8, len);
                int at = rng.Next(h.Length);
                var nh = Encoding.UTF8.GetBytes(h.Insert(at, piece));
                var res = new byte[8 + nh.Length + (b.Length - headerEnd)];
                BitConverter.TryWriteBytes(res, (ulong)nh.Length);
                nh.CopyTo(res, 8);
                Array.Copy(b, headerEnd, res, 8 + nh.Length, b.Length - headerEnd);
                return res;
            }
            default: // data bytes appended or removed at the end
                return rng.Next(2) == 0 ? [.. b, .. new byte[rng.Next(1, 9)]] : b[..Math.Max(0, b.Length - rng.Next(1, 9))];
        }
    }

    [Fact]
    public void MutatedSafeTensorsFilesOnlyEverRaiseInvalidDataException()
    {
        var seeds = new[]
        {
            File.ReadAllBytes(PeftFixture.PathOf("halfprec.safetensors")),
            File.ReadAllBytes(PeftFixture.PathOf("adapter/adapter_model.safetensors")),
            File.ReadAllBytes(PeftFixture.PathOf("io.safetensors")),
            SafeTensors.Serialize([new TensorData("s", [], [1f]), new TensorData("e", [0], []), new TensorData("v", [3], [1, 2, 3])],
                new Dictionary<string, string> { ["k"] = "v" }),
        };
        int accepted = 0, rejected = 0;
        RunBounded(() =>
        {
            var rng = new Random(12345);
            for (int i = 0; i < Mutations; i++)
            {
                var bytes = Mutate(seeds[i % seeds.Length], rng);
                try
                {
                    var file = SafeTensors.Parse(bytes, "fuzz.safetensors");
                    // Whatever is accepted must be a well-formed file again.
                    SafeTensors.Parse(SafeTensors.Serialize(file.Tensors, file.Metadata), "again");
                    accepted++;
                }
                catch (InvalidDataException e)
                {
                    Assert.StartsWith("fuzz.safetensors: ", e.Message);
                    rejected++;
                }
                catch (Exception e)
                {
                    Assert.Fail($"mutation {i} threw {e.GetType().Name}: {e.Message}\n{Convert.ToBase64String(bytes)}");
                }
            }
        });
        // The campaign exercises both outcomes (a mutation of data bytes is still a valid file).
        Assert.True(accepted > 100 && rejected > Mutations / 2, $"accepted {accepted}, rejected {rejected}");
    }

    [Fact]
    public void MutatedConfigFilesOnlyEverRaiseInvalidDataException()
    {
        var adapterJson = File.ReadAllBytes(PeftFixture.PathOf("adapter/adapter_config.json"));
        var modelJson = File.ReadAllBytes(PeftFixture.PathOf("config.json"));
        RunBounded(() =>
        {
            var rng = new Random(777);
            byte[] pool = "{}[]\",:-.e0123456789 \\truefalsnl"u8.ToArray();
            for (int i = 0; i < 3000; i++)
            {
                var b = (byte[])(i % 2 == 0 ? adapterJson : modelJson).Clone();
                for (int k = rng.Next(1, 3); k > 0; k--)
                {
                    if (rng.Next(3) == 0) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                    else b[rng.Next(b.Length)] = pool[rng.Next(pool.Length)];
                }
                if (rng.Next(5) == 0) b = b[..rng.Next(b.Length)];
                try
                {
                    if (i % 2 == 0) PeftAdapterConfig.FromJson(b, "adapter_config.json");
                    else ModelConfig.FromJson(b, "config.json");
                }
                catch (InvalidDataException) { }
                catch (Exception e)
                {
                    Assert.Fail($"mutation {i} threw {e.GetType().Name}: {e.Message}\n{Encoding.UTF8.GetString(b)}");
                }
            }
        });
    }
}
