using Lora.Autograd;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

public class TapeTests
{
    static Tape Fresh()
    {
        var tape = Tape.Current;
        tape.Reset();
        tape.CheckFinite = false;
        return tape;
    }

    [Fact]
    public void BackwardSeedsOneAndGradientsAccumulateUntilZeroGrad()
    {
        var tape = Fresh();
        var x = new Tensor([1f, 2f, 3f], new Shape(3), true, "x");
        // L = Σ 3·x² → dL/dx = 6x
        Ops.Sum(Ops.Scale(Ops.Mul(x, x), 3f)).Backward();
        Assert.Equal([6f, 12f, 18f], x.Grad.ToArray());
        tape.Reset();
        Ops.Sum(Ops.Scale(Ops.Mul(x, x), 3f)).Backward();
        Assert.Equal([12f, 24f, 36f], x.Grad.ToArray());
        x.ZeroGrad();
        Assert.Equal([0f, 0f, 0f], x.Grad.ToArray());
        tape.Reset();
    }

    [Fact]
    public void ATensorUsedTwiceGetsBothContributions()
    {
        var tape = Fresh();
        var x = new Tensor([2f], new Shape(1), true);
        var y = Ops.Add(Ops.Mul(x, x), x); // y = x² + x, dy/dx = 2x + 1 = 5
        Ops.Sum(y).Backward();
        Assert.Equal(5f, x.Grad[0]);
        tape.Reset();
    }

    [Fact]
    public void NoGradRecordsNothingAndRestoresThePreviousModeOnDispose()
    {
        var tape = Fresh();
        var x = new Tensor([1f, 2f], new Shape(2), true);
        Assert.True(Tape.IsGradEnabled);
        using (Tape.NoGrad())
        {
            using (Tape.NoGrad()) Assert.False(Tape.IsGradEnabled);
            Assert.False(Tape.IsGradEnabled); // the inner scope restored "disabled", not "enabled"
            var y = Ops.Tanh(x);
            Assert.False(y.RequiresGrad);
            Assert.Equal(0, tape.NodeCount);
        }
        Assert.True(Tape.IsGradEnabled);
        // Thread-static: another thread is unaffected by this one's scope.
        using (Tape.NoGrad())
        {
            bool other = false;
            var t = new Thread(() => other = Tape.IsGradEnabled);
            t.Start(); t.Join();
            Assert.True(other);
        }
        tape.Reset();
    }

    [Fact]
    public void UnfreezeCountCountsOnlyFrozenToTrainableTransitions()
    {
        var p = new Parameter("p", new Shape(2));
        Assert.Equal(0, p.UnfreezeCount);      // born trainable
        p.Frozen = false;
        Assert.Equal(0, p.UnfreezeCount);
        p.Frozen = true;
        p.Frozen = true;
        Assert.Equal(0, p.UnfreezeCount);
        p.Frozen = false;
        Assert.Equal(1, p.UnfreezeCount);
        p.RequiresGrad = false;
        p.RequiresGrad = true;
        p.RequiresGrad = true;
        Assert.Equal(2, p.UnfreezeCount);
    }

    [Fact]
    public void RequiresGradPropagatesFromAnyInput()
    {
        var tape = Fresh();
        var a = new Tensor([1f, 2f], new Shape(2));
        var b = new Tensor([3f, 4f], new Shape(2));
        Assert.False(Ops.Add(a, b).RequiresGrad);
        b.RequiresGrad = true;
        var y = Ops.Add(a, b);
        Assert.True(y.RequiresGrad);
        Assert.Throws<InvalidOperationException>(() => y.RequiresGrad = false);
        Ops.Sum(y).Backward();
        Assert.False(a.HasGrad);
        Assert.Equal([1f, 1f], b.Grad.ToArray());
        tape.Reset();
    }

    [Fact]
    public void AFrozenParameterGetsNoGradientAndAnInputNeedingNoneGetsNoDx()
    {
        var tape = Fresh();
        var x = Leaf(new Shape(4, 3), 1, requiresGrad: false);
        var w = Param("w", new Shape(2, 3), 2);
        var b = Param("b", new Shape(2), 3);
        w.Frozen = true;
        Ops.Sum(Ops.Linear(x, w, b)).Backward();
        Assert.False(w.HasGrad);
        Assert.False(x.HasGrad);
        Assert.Equal([4f, 4f], b.Grad.ToArray());
        tape.Reset();
        b.Frozen = true;
        var y = Ops.Linear(x, w, b);
        Assert.False(y.RequiresGrad);
        Assert.Equal(0, tape.NodeCount);
        tape.Reset();
    }

    [Fact]
    public void BackwardOnANonScalarWithoutASeedIsRejected()
    {
        var tape = Fresh();
        var x = Leaf(new Shape(2, 2), 1);
        var y = Ops.Tanh(x);
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("(2, 2)", e.Message);
        Assert.Contains("seed", e.Message);
        y.Backward([1f, 0f, 0f, 1f]); // with a seed it works
        Assert.True(x.HasGrad);
        tape.Reset();
    }

    [Fact]
    public void ASecondBackwardOverAConsumedTapeIsRejected()
    {
        var tape = Fresh();
        var x = Leaf(new Shape(3), 1);
        var loss = Ops.Sum(Ops.Tanh(x));
        loss.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("consumed", e.Message);
        var e2 = Assert.Throws<InvalidOperationException>(() => Ops.Tanh(x));
        Assert.Contains("Reset", e2.Message);
        tape.Reset();
        Ops.Sum(Ops.Tanh(x)).Backward(); // fine after a reset
        tape.Reset();
    }

    [Fact]
    public void BackwardOnATensorThatNeedsNoGradientIsRejected()
    {
        var tape = Fresh();
        var x = Leaf(new Shape(3), 1, requiresGrad: false);
        var e = Assert.Throws<InvalidOperationException>(() => Ops.Sum(x).Backward());
        Assert.Contains("does not require", e.Message);
        tape.Reset();
    }

    [Fact]
    public void ResetReleasesActivationsAndLaterUseThrows()
    {
        var tape = Fresh();
        var x = Leaf(new Shape(3), 1);
        var y = Ops.Tanh(x);
        Assert.True(tape.LiveTensorCount > 0);
        tape.Reset();
        Assert.Equal(0, tape.LiveTensorCount);
        Assert.Throws<ObjectDisposedException>(() => y.Data[0]);
        Assert.Equal(3, x.Length); // leaves are untouched
        Assert.False(float.IsNaN(x.Data[0]));
    }

    [Fact]
    public void AnActivationKeptFromThePreviousStepThrowsThroughoutTheNextOne()
    {
        // Tensor objects are recycled, so a stale reference could stand for a new activation; they are reissued only
        // after the next reset, so a whole step's ops cannot hand out the object the caller kept from the last one.
        var tape = Fresh();
        var x = Leaf(new Shape(3), 1);
        var kept = Ops.Tanh(x);
        tape.Reset();
        var fresh = new List<Tensor>();
        for (int i = 0; i < 8; i++) fresh.Add(Ops.Tanh(x));      // more outputs than the last step made
        Assert.DoesNotContain(kept, fresh);
        var e = Assert.Throws<ObjectDisposedException>(() => Ops.Add(kept, kept));
        Assert.Contains("Tape.Reset()", e.Message);
        tape.Reset();
        tape.Reset();                                           // two resets later the object may be reissued
        Ops.Tanh(x);
        tape.Reset();
    }

    [Fact]
    public void ThePoolReusesStorageAndCanReleaseIt()
    {
        var tape = Fresh();
        var x = Leaf(new Shape(64, 64), 1);
        tape.ResetAndReleaseMemory();
        Ops.Sum(Ops.Tanh(x)).Backward();
        long afterFirst = tape.PooledBytes;
        Assert.True(afterFirst >= 2 * 64 * 64 * sizeof(float)); // output and its gradient at least
        for (int i = 0; i < 3; i++) { tape.Reset(); Ops.Sum(Ops.Tanh(x)).Backward(); }
        Assert.Equal(afterFirst, tape.PooledBytes); // later steps are served from the pool
        tape.ResetAndReleaseMemory();
        Assert.Equal(0, tape.PooledBytes);
        Assert.Equal(0, tape.LiveTensorCount);
    }

    [Fact]
    public void CheckFiniteNamesTheOpThatProducedNaN()
    {
        var tape = Fresh();
        var x = new Tensor([1f, float.NaN], new Shape(2), true);
        var y = Ops.Scale(x, 2f); // unchecked by default
        Assert.True(float.IsNaN(y.Data[1]));
        tape.CheckFinite = true;
        try
        {
            var e = Assert.Throws<NotFiniteNumberException>(() => Ops.Scale(x, 2f));
            Assert.Contains("Scale", e.Message);
            var big = new Tensor([1e30f, 1e30f], new Shape(2), true);
            var e2 = Assert.Throws<NotFiniteNumberException>(() => Ops.Mul(big, big));
            Assert.Contains("Mul", e2.Message);
            Assert.Contains("Infinity", e2.Message);
        }
        finally { tape.CheckFinite = false; tape.Reset(); }
    }

    [Fact]
    public void CheckFiniteAlsoNamesTheOpWhoseBackwardOverflows()
    {
        var tape = Fresh();
        var a = new Tensor([3e20f, 1f], new Shape(2), true, "a");
        var b = new Tensor([2e20f, 1f], new Shape(2), true, "b");
        var y = Ops.Mul(a, b); // forward 6e40 overflows too, so check only the backward
        tape.CheckFinite = true;
        try
        {
            var e = Assert.Throws<NotFiniteNumberException>(() => y.Backward([1e20f, 1f]));
            Assert.Contains("Mul backward", e.Message);
        }
        finally { tape.CheckFinite = false; tape.Reset(); }
    }

    [Fact]
    public void AVeryDeepGraphBackpropagatesWithoutRecursion()
    {
        var tape = Fresh();
        var x = new Tensor([0.5f], new Shape(1), true);
        var y = x;
        const int depth = 20_000;
        for (int i = 0; i < depth; i++) y = Ops.Scale(y, 1f);
        Ops.Sum(y).Backward();
        Assert.Equal(1f, x.Grad[0]);
        Assert.Equal(depth + 1, tape.NodeCount);
        tape.Reset();
    }

    [Fact]
    public void ReshapeIsAView()
    {
        var tape = Fresh();
        var x = new Tensor([1f, 2f, 3f, 4f, 5f, 6f], new Shape(2, 3), true);
        var v = Ops.Reshape(x, new Shape(3, 2));
        Assert.Equal(new Shape(3, 2), v.Shape);
        x.Data[4] = 50f;
        Assert.Equal(50f, v.Data[4]);
        tape.Reset();
        Assert.Equal(50f, x.Data[4]); // releasing the view does not touch the source's storage
    }

    [Fact]
    public void ParameterGradStorageCanLiveInAnArena()
    {
        var tape = Fresh();
        var arena = new float[10];
        var p = new Parameter("p", new float[] { 1f, 2f, 3f }, new Shape(3));
        p.SetGradStorage(arena, 4);
        Ops.Sum(Ops.Scale(p, 2f)).Backward();
        Assert.Equal([0f, 0f, 0f, 0f, 2f, 2f, 2f, 0f, 0f, 0f], arena);
        Assert.Equal("p", p.Name);
        Assert.False(p.Frozen);
        tape.Reset();
    }

    [Fact]
    public void ShapeBasics()
    {
        Assert.Equal(1, Shape.Scalar.Length);
        Assert.Equal(1, default(Shape).Length);
        Assert.Equal("(2, 3, 4)", new Shape(2, 3, 4).ToString());
        Assert.Equal(6, new Shape(2, 3, 4).Rows);
        Assert.Equal(4, new Shape(2, 3, 4)[-1]);
        Assert.Equal(0, new Shape(2, 0, 4).Length);
        Assert.Equal(0, new Shape(2, 0, 4).Rows);
        Assert.Throws<ArgumentException>(() => new Shape(1, 2, 3, 4, 5));
        Assert.Throws<ArgumentException>(() => new Shape(-1));
        Assert.Throws<ArgumentException>(() => new Shape(1 << 16, 1 << 16));
    }
}
