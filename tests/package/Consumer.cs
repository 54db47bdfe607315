// A program that uses the BatchNormLab package as a NuGet user would: a BatchNorm1d forward and backward in
// training mode, and an exact Hessian-vector product through it. Built and run by tests/package/run.
using BatchNormLab;
using BatchNormLab.Nn;

var rng = new Rng(0);
var bn = new BatchNorm1d(4);
var x = Tensor.RandomNormal(rng, [8, 4]);
x.RequiresGrad = true;
var y = bn.Forward(x);
var loss = (y * y).Sum();
loss.Backward();
// Σ over the batch of a BN output is 0 per channel (β = 0), so the gradient of Σ y² sums to 0 per channel too.
var dx = x.Grad!.ToFloatArray();
double channelSum = Enumerable.Range(0, 8).Sum(i => (double)dx[i * 4]);
if (Math.Abs(channelSum) > 1e-4) throw new Exception($"BatchNorm1d backward: Σ dx over the batch is {channelSum}, expected 0");

var parameters = bn.Parameters().ToList();
var v = parameters.Select(p => Tensor.RandomNormal(rng, p.Shape)).ToList();
var hv = Autograd.HessianVectorProduct(() => { var z = bn.Forward(x); return (z * z).Sum(); }, parameters, v);
if (hv.Length != parameters.Count || hv.Any(h => h.ToFloatArray().Any(f => !float.IsFinite(f)))) throw new Exception("Hessian-vector product: not one finite part per parameter");
Console.WriteLine($"BatchNormLab package: BatchNorm1d forward/backward and a Hessian-vector product ok (loss {loss.ToFloatArray()[0]:G6})");
