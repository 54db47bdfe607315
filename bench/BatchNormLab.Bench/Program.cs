// The engine's benchmark: the workloads of ../shared/peer/torch_bench.py (same names, shapes and
// work figures), each timed as the median of --runs runs after 3 warm-up runs, and set against
//   a floor: bytes that must move at the copy bandwidth measured in this run (BatchNorm, copy),
//            or FLOPs at peak = cores × 2 FMA units × 8 float lanes × 2 × clock (sgemm, conv);
//   the peer (--peer): torch_bench.py run in the same process tree, speedup = torch ms / our ms.
// stdout: a table, or with --json one JSON line per workload; progress goes to stderr.
//
//   dotnet run -c Release --project bench/BatchNormLab.Bench -- [--json] [--threads 2] [--runs 7] [--only prefix,prefix] [--peer]
using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using BatchNormLab.Kernels;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
bool json = false, peer = false;
int threads = 2, runs = 7;
string[] only = [];
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--json": json = true; break;
        case "--peer": peer = true; break;
        case "--threads" when i + 1 < args.Length && int.TryParse(args[i + 1], out threads) && threads >= 1: i++; break;
        case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], out runs) && runs >= 1: i++; break;
        case "--only" when i + 1 < args.Length: only = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries); break;
        default:
            Console.Error.WriteLine($"unknown or incomplete argument '{args[i]}'\nusage: BatchNormLab.Bench [--json] [--threads N] [--runs N] [--only prefix,prefix] [--peer]");
            return 2;
    }
}
Threading.Threads = threads;

var all = Workload.All();
var selected = all.Where(w => only.Length == 0 || only.Any(p => w.Name.StartsWith(p, StringComparison.Ordinal))).ToList();
if (selected.Count == 0)
{
    Console.Error.WriteLine($"no workload starts with {string.Join(" or ", only)}; workloads: {string.Join(", ", all.Select(w => w.Name))}");
    return 2;
}
var torch = peer ? Peer.Run(threads, runs, selected.Select(w => w.Name.Split('[')[0]).Distinct()) : [];

var (peakFlopsPerMs, peakText) = Peak(threads);
var jsonOptions = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }; // names keep their "->"
double bytesPerMs = double.NaN;
var rows = new List<Row>();
foreach (var w in all)
{
    bool wanted = selected.Contains(w);
    bool isCopy = w == all[0];
    if (!wanted && !(isCopy && selected.Any(s => s.Bytes != null))) continue;
    var step = w.Setup();
    // Free the previous workload's buffers first, as torch does at once by refcount: otherwise this
    // workload's outputs land on fresh pages and its time is mostly first-touch page faults.
    GC.Collect();
    double ms = MedianMs(step, runs, warmup: 3);
    if (isCopy)
    {
        bytesPerMs = w.Bytes!.Value / ms;
        if (!wanted) Console.Error.WriteLine($"{w.Name} {ms:F3} ms: copy bandwidth {bytesPerMs / 1e6:F1} GB/s for the memory floors");
    }
    if (!wanted) continue;
    var (floorMs, floorText) = w.Bytes is long bytes
        ? (bytes / bytesPerMs, isCopy ? $"defines the copy bandwidth {bytesPerMs / 1e6:F1} GB/s"
            : $"{bytes / (double)(1 << 20):F0} MiB moved at copy bandwidth {bytesPerMs / 1e6:F1} GB/s")
        : (w.Work / peakFlopsPerMs, $"{w.Work / 1e9:F2} GFLOP at peak {peakText}");
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
    Console.WriteLine($"{threads} thread(s), median of {runs} runs after 3 warm-up; speedup = torch ms / our ms (>1: we are faster)");
    Console.WriteLine($"{"workload",-36} {"ms",10} {"torch ms",10} {"speedup",8} {"floor ms",10} {"x floor",8}  floor");
    foreach (var r in rows)
        Console.WriteLine($"{r.Name,-36} {r.Ms,10:F3} {r.TorchMs?.ToString("F3") ?? "-",10} {(r.TorchMs / r.Ms)?.ToString("F2") ?? "-",8} {r.FloorMs,10:F3} {r.Ms / r.FloorMs,8:F2}  {r.FloorText}");
    var speedups = rows.Where(r => r.TorchMs != null).Select(r => r.TorchMs!.Value / r.Ms).ToList();
    if (speedups.Count > 0)
        Console.WriteLine($"geometric mean speedup over {speedups.Count} workloads: {Math.Exp(speedups.Average(Math.Log)):F2}");
}
return 0;

static double MedianMs(Action step, int runs, int warmup)
{
    for (int i = 0; i < warmup; i++) step();
    var times = new double[runs];
    for (int i = 0; i < runs; i++)
    {
        long start = Stopwatch.GetTimestamp();
        step();
        times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
    Array.Sort(times);
    return times[runs / 2];
}

// Peak FLOPs per ms with the clock read from /proc/cpuinfo "cpu MHz" (the highest core's).
static (double FlopsPerMs, string Text) Peak(int threads)
{
    int cores = Math.Min(threads, Environment.ProcessorCount);
    double mhz = File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").Where(l => l.StartsWith("cpu MHz")).Select(l => double.Parse(l.Split(':')[1])).DefaultIfEmpty(double.NaN).Max()
        : double.NaN;
    double flopsPerMs = cores * 2 * 8 * 2 * mhz * 1e3;
    return (flopsPerMs, $"{flopsPerMs / 1e6:F0} GFLOP/s = {cores} cores x 2 FMA x 8 lanes x 2 x {mhz:F0} MHz (/proc/cpuinfo)");
}

record Row(string Name, double Ms, double FloorMs, string FloorText, double? TorchMs);
