// The engine's benchmark: the workloads of ../shared/peer/torch_bench.py (same names, shapes and
// work figures), each timed as the median of --runs runs after 3 warm-up runs, and set against
//   a floor: bytes that must move at the copy bandwidth measured in this run (ours or the peer's,
//            the faster), or FLOPs at the FMA peak measured in this run (sgemm, conv);
//   the peer (--peer): torch_bench.py run in the same process tree, speedup = torch ms / our ms.
// The peer times each workload (it is run once per workload name) right before we do, so on a shared machine
// whose speed drifts the two sides of a ratio are measured seconds apart; --rounds R repeats that R times and
// both sides report the median over the rounds.
// stdout: a table, or with --json one JSON line per workload; progress goes to stderr.
//
//   dotnet run -c Release --project bench/BatchNormLab.Bench -- [--json] [--threads 2] [--runs 7] [--rounds 1] [--only prefix,prefix] [--peer]
//   ... -- --memory   peak resident memory of VGG-11(-BN) training, ours and PyTorch's, each in a fresh process
//   ... -- --bn-share the share of a VGG-11-BN training step its BatchNorm layers take, ours and PyTorch's
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text.Encodings.Web;
using System.Text.Json;
using BatchNormLab.Kernels;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
bool json = false, peer = false, memory = false, bnShare = false;
string? memoryChild = null;
int threads = 2, runs = 7, rounds = 1;
string[] only = [];
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--json": json = true; break;
        case "--memory": memory = true; break;
        case "--bn-share": bnShare = true; break;
        case "--memory-child" when i + 1 < args.Length: memoryChild = args[++i]; break;
        case "--peer": peer = true; break;
        case "--threads" when i + 1 < args.Length && int.TryParse(args[i + 1], out threads) && threads >= 1: i++; break;
        case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], out runs) && runs >= 1: i++; break;
        case "--rounds" when i + 1 < args.Length && int.TryParse(args[i + 1], out rounds) && rounds >= 1: i++; break;
        case "--only" when i + 1 < args.Length: only = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries); break;
        default:
            Console.Error.WriteLine($"unknown or incomplete argument '{args[i]}'\nusage: BatchNormLab.Bench [--json] [--threads N] [--runs N] [--rounds N] [--only prefix,prefix] [--peer] | --memory | --bn-share");
            return 2;
    }
}
using var threadScope = Threading.Use(threads);
if (memoryChild is not null) return Memory.Child(memoryChild == "bn", threads);
if (memory) return Memory.Compare(threads, Peer.RepoRoot() ?? ".");
if (bnShare) return BnShare.Compare(threads, Peer.RepoRoot() ?? ".");

var all = Workload.All();
var selected = all.Where(w => only.Length == 0 || only.Any(p => w.Name.StartsWith(p, StringComparison.Ordinal))).ToList();
if (selected.Count == 0)
{
    Console.Error.WriteLine($"no workload starts with {string.Join(" or ", only)}; workloads: {string.Join(", ", all.Select(w => w.Name))}");
    return 2;
}
// The copy workload defines the memory floors: timed whenever a selected workload has one.
var timed = all.Where(w => selected.Contains(w) || (w == all[0] && selected.Any(s => s.Bytes != null))).ToList();
var ourRounds = timed.ToDictionary(w => w.Name, _ => new List<double>());
var torchRounds = timed.ToDictionary(w => w.Name, _ => new List<double>());
for (int round = 0; round < rounds; round++)
    foreach (var group in timed.GroupBy(w => w.Name.Split('[')[0]))
    {
        if (peer)
        {
            var peerTimes = Peer.Run(threads, runs, [group.Key]);
            peer = peerTimes != null; // a peer that cannot run at all is not asked again
            foreach (var (name, ms) in peerTimes ?? [])
                if (torchRounds.TryGetValue(name, out var list)) list.Add(ms);
        }
        foreach (var w in group)
        {
            var step = w.Setup();
            ourRounds[w.Name].Add(w.Heavy ? Timing.MedianMs(step, 3, warmup: 1) : Timing.MedianMs(step, runs, warmup: 3));
            if (rounds > 1) Console.Error.WriteLine($"round {round + 1}/{rounds} {w.Name}: {ourRounds[w.Name][^1]:F3} ms" +
                (torchRounds[w.Name].Count > round ? $", torch {torchRounds[w.Name][round]:F3} ms" : ""));
        }
    }
var torch = torchRounds.Where(kv => kv.Value.Count > 0).ToDictionary(kv => kv.Key, kv => Timing.Median(kv.Value));

var (peakFlopsPerMs, peakText) = Peak(threads);
var jsonOptions = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }; // names keep their "->"
double bytesPerMs = double.NaN;
var rows = new List<Row>();
foreach (var w in timed)
{
    bool wanted = selected.Contains(w);
    bool isCopy = w == all[0];
    double ms = Timing.Median(ourRounds[w.Name]);
    if (isCopy)
    {
        // The floor is the machine's bandwidth: the faster of our copy and the peer's.
        double bestCopyMs = torch.TryGetValue(w.Name, out var torchCopy) ? Math.Min(ms, torchCopy) : ms;
        bytesPerMs = w.Bytes!.Value / bestCopyMs;
        if (!wanted) Console.Error.WriteLine($"{w.Name} {ms:F3} ms: copy bandwidth {bytesPerMs / 1e6:F1} GB/s for the memory floors");
    }
    if (!wanted) continue;
    var (floorMs, floorText) = w.Bytes is long bytes
        ? (bytes / bytesPerMs, isCopy ? $"defines the copy bandwidth {bytesPerMs / 1e6:F1} GB/s"
            : $"{bytes / (double)(1 << 20):F0} MiB moved at copy bandwidth {bytesPerMs / 1e6:F1} GB/s")
        : ((w.Flops ?? w.Work) / peakFlopsPerMs, $"{(w.Flops ?? w.Work) / 1e9:F2} GFLOP at peak {peakText}");
    double? torchMs = torch.TryGetValue(w.Name, out var t) ? t : null;
    rows.Add(new Row(w.Name, ms, floorMs, floorText, torchMs));
    Console.Error.WriteLine($"{w.Name}: {ms:F3} ms, {ms / floorMs:F2}x floor" + (torchMs is double tm ? $", torch {tm:F3} ms, torch/ours {tm / ms:F2}" : ""));
    if (json)
    {
        var line = new Dictionary<string, object>
        {
            ["name"] = w.Name, ["ms"] = Math.Round(ms, 3), ["work"] = w.Work, ["threads"] = threads,
            ["floor_ms"] = Math.Round(floorMs, 3), ["floor"] = floorText,
        };
        if (torchMs is double tms)
        {
            line["torch_ms"] = tms;
            line["speedup"] = Math.Round(tms / ms, 3);
        }
        Console.WriteLine(JsonSerializer.Serialize(line, jsonOptions));
    }
}

if (!json)
{
    Console.WriteLine($"{threads} thread(s), median of {runs} runs after 3 warm-up" + (rounds > 1 ? $", then the median over {rounds} rounds" + (torch.Count > 0 ? ", each beside the peer's" : "") : "") +
        "; speedup = torch ms / our ms (>1: we are faster)");
    Console.WriteLine($"{"workload",-36} {"ms",10} {"torch ms",10} {"speedup",8} {"floor ms",10} {"x floor",8}  floor");
    foreach (var r in rows)
        Console.WriteLine($"{r.Name,-36} {r.Ms,10:F3} {r.TorchMs?.ToString("F3") ?? "-",10} {(r.TorchMs / r.Ms)?.ToString("F2") ?? "-",8} {r.FloorMs,10:F3} {r.Ms / r.FloorMs,8:F2}  {r.FloorText}");
    var speedups = rows.Where(r => r.TorchMs != null).Select(r => r.TorchMs!.Value / r.Ms).ToList();
    if (speedups.Count > 0)
        Console.WriteLine($"geometric mean speedup over {speedups.Count} workloads: {Math.Exp(speedups.Average(Math.Log)):F2}");
}
return 0;

// Peak FLOPs per ms, measured: every thread runs 12 independent chains of float FMAs (enough to
// cover FMA latency on both FMA pipes), the shape of a GEMM micro-kernel without loads, in the
// vector width the GEMM uses: 512-bit where AVX-512 is there, else 256-bit.
static (double FlopsPerMs, string Text) Peak(int threads)
{
    const long Iterations = 20_000_000;
    bool wide = Avx512F.IsSupported && Vector512.IsHardwareAccelerated;
    int lanes = wide ? Vector512<float>.Count : Vector256<float>.Count;
    var best = double.MaxValue;
    for (int trial = 0; trial < 5; trial++) // best of five: the host is shared
    {
        long start = Stopwatch.GetTimestamp();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            if (wide) FmaChains512(Iterations); else FmaChains(Iterations);
        });
        best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }
    double flopsPerMs = threads * Iterations * 12 * lanes * 2 / best;
    return (flopsPerMs, $"{flopsPerMs / 1e6:F0} GFLOP/s measured ({threads} threads of {lanes * 32}-bit float FMA chains)");
}

[MethodImpl(MethodImplOptions.NoInlining)]
static float FmaChains(long iterations)
{
    var m = Vector256.Create(0.999f);
    var a = Vector256.Create(0.001f);
    Vector256<float> c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
    for (long i = 0; i < iterations; i++)
    {
        c0 = Fma.MultiplyAdd(c0, m, a); c1 = Fma.MultiplyAdd(c1, m, a); c2 = Fma.MultiplyAdd(c2, m, a);
        c3 = Fma.MultiplyAdd(c3, m, a); c4 = Fma.MultiplyAdd(c4, m, a); c5 = Fma.MultiplyAdd(c5, m, a);
        c6 = Fma.MultiplyAdd(c6, m, a); c7 = Fma.MultiplyAdd(c7, m, a); c8 = Fma.MultiplyAdd(c8, m, a);
        c9 = Fma.MultiplyAdd(c9, m, a); c10 = Fma.MultiplyAdd(c10, m, a); c11 = Fma.MultiplyAdd(c11, m, a);
    }
    return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
}

[MethodImpl(MethodImplOptions.NoInlining)]
static float FmaChains512(long iterations)
{
    var m = Vector512.Create(0.999f);
    var a = Vector512.Create(0.001f);
    Vector512<float> c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
    for (long i = 0; i < iterations; i++)
    {
        c0 = Avx512F.FusedMultiplyAdd(c0, m, a); c1 = Avx512F.FusedMultiplyAdd(c1, m, a); c2 = Avx512F.FusedMultiplyAdd(c2, m, a);
        c3 = Avx512F.FusedMultiplyAdd(c3, m, a); c4 = Avx512F.FusedMultiplyAdd(c4, m, a); c5 = Avx512F.FusedMultiplyAdd(c5, m, a);
        c6 = Avx512F.FusedMultiplyAdd(c6, m, a); c7 = Avx512F.FusedMultiplyAdd(c7, m, a); c8 = Avx512F.FusedMultiplyAdd(c8, m, a);
        c9 = Avx512F.FusedMultiplyAdd(c9, m, a); c10 = Avx512F.FusedMultiplyAdd(c10, m, a); c11 = Avx512F.FusedMultiplyAdd(c11, m, a);
    }
    return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
}

record Row(string Name, double Ms, double FloorMs, string FloorText, double? TorchMs);
