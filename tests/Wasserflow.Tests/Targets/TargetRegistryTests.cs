using Wasserflow.Parameters;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Targets;

public sealed class TargetRegistryTests
{
    [Fact]
    public void Every_registered_target_builds_at_its_defaults_with_its_name_and_dimension()
    {
        foreach (TargetDefinition definition in TargetRegistry.All)
        {
            // A model's dimension comes from its data: the small CSV has y, x1, x2 and a 3-level group → α, β (4 columns);
            // the network at its default 50 units: 50·(4 + 1) + 51 = 301. posteriordb: eight schools from the data copy (θ̃ ∈ R⁸, μ, log τ).
            var p = definition.Name == "posteriordb"
                ? new TargetParameters { Target = definition.Name, Posterior = "eight_schools-eight_schools_noncentered", Posteriordb = Path.Combine(AppContext.BaseDirectory, "TestData", "posteriordb") }
                : definition.DimensionFromData
                ? new TargetParameters { Target = definition.Name, Data = Path.Combine(AppContext.BaseDirectory, "TestData", "logistic-small.csv") }
                : new TargetParameters { Target = definition.Name, Dimension = definition.FixedDimension ?? 3 };
            ITarget target = p.Build();
            int expected = definition.Name switch
            {
                "posteriordb" => 10,
                "bnn-regression" => 301,
                _ => definition.DimensionFromData ? 5 + (definition.Name == "linear-regression" ? 1 : 0) : p.Dimension,
            };
            Assert.Equal(expected, target.Dimension);
            Assert.True(double.IsFinite(target.LogDensity(new double[expected])), definition.Name);
            foreach (string used in definition.Parameters) Assert.Null(p.NotApplicable(used));
        }
    }

    [Fact]
    public void What_a_target_can_do_is_read_from_its_interfaces()
    {
        Assert.IsAssignableFrom<ITargetWithHessian>(new TargetParameters { Target = "gmm" }.Build());
        Assert.False(new TargetParameters { Target = "funnel" }.Build() is ITargetWithHessian);
    }

    [Theory]
    [InlineData("bimodal", 3, "Dimension", "dimension mismatch: the bimodal target is 2-D")]
    [InlineData("funnel", 1, "Dimension", "needs dimension ≥ 2")]
    [InlineData("banana", 2, "Target", "unknown target 'banana'")]
    public void Bad_parameters_name_the_parameter(string name, int dimension, string parameter, string reason)
    {
        var ex = Assert.Throws<InvalidParameterException>(() => new TargetParameters { Target = name, Dimension = dimension }.Build());
        Assert.Equal(parameter, ex.ParamName);
        Assert.Contains(reason, ex.Reason);
    }

    [Fact]
    public void Ranges_come_from_the_attributes()
    {
        var ex = Assert.Throws<InvalidParameterException>(() => new TargetParameters { TargetScale = 0 }.Validate());
        Assert.Equal(nameof(TargetParameters.TargetScale), ex.ParamName);
        Assert.Equal("must be > 0 and finite, got 0", ex.Reason);
        Assert.Throws<InvalidParameterException>(() => new TargetParameters { TargetSpread = double.NaN }.Validate());
        Assert.Throws<InvalidParameterException>(() => new TargetParameters { Skew = [double.PositiveInfinity, 0], Target = "sinh-arcsinh" }.Validate());
        Assert.Equal("gmm", ParameterRecords.Closest("GMN", TargetRegistry.All.Select(t => t.Name)));
        Assert.Null(ParameterRecords.Closest("banana", TargetRegistry.All.Select(t => t.Name)));
    }
}
