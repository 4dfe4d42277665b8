using Wasserflow.Running;

namespace Wasserflow.Tests.Running;

/// <summary>Stan ADVI's tol_rel_obj rule against hand-worked traces.</summary>
public sealed class RelativeToleranceRuleTests
{
    // A trace of KL − log Z values (the ELBO is their negative) every 100 iterations, the first at the start.
    private static List<TracePoint> Trace(params double[] kl) => [.. kl.Select((k, i) => new TracePoint(100L * i, k, 0.1, i))];

    [Fact]
    public void Stans_window_is_a_tenth_of_the_evaluations_and_at_least_two()
    {
        Assert.Equal(10, RelativeToleranceRule.StanWindow(10_000, 100));
        Assert.Equal(2, RelativeToleranceRule.StanWindow(1_000, 100));
        Assert.Equal(50, RelativeToleranceRule.StanWindow(50_000, 100));
        Assert.Equal(20, RelativeToleranceRule.StanWindow(10_000, 50));
    }

    [Fact]
    public void The_first_change_is_measured_from_zero_so_one_evaluation_never_stops()
    {
        var rule = new RelativeToleranceRule(0.01, 10);
        RelativeToleranceCheck check = rule.Check(Trace(1e6, 100));
        Assert.Equal(1.0, check.Change);
        Assert.Equal(1.0, check.MeanChange);
        Assert.Equal(RelativeToleranceCriterion.None, check.Criterion);
        Assert.Equal(-100, check.Elbo);
    }

    [Fact]
    public void The_median_of_three_changes_fires_at_the_third_evaluation_while_the_mean_does_not()
    {
        // ELBOs −100, −99.5, −99.2: changes 1, |(−100 + 99.5)/−99.5| = 0.005025, |(−99.5 + 99.2)/−99.2| = 0.003024.
        var rule = new RelativeToleranceRule(0.01, 10);
        Assert.Equal(RelativeToleranceCriterion.None, rule.Check(Trace(500, 100, 99.5)).Criterion); // median of {1, 0.005} is 1
        RelativeToleranceCheck check = rule.Check(Trace(500, 100, 99.5, 99.2));
        Assert.Equal(0.3 / 99.2, check.Change, 12);
        Assert.Equal(0.5 / 99.5, check.MedianChange, 12);
        Assert.Equal((1 + 0.5 / 99.5 + 0.3 / 99.2) / 3, check.MeanChange, 12);
        Assert.Equal(RelativeToleranceCriterion.Median, check.Criterion);
        Assert.True(rule.ConvergedOnTrace(Trace(500, 100, 99.5, 99.2)));
    }

    [Fact]
    public void Only_the_last_window_of_changes_counts_and_an_even_count_takes_the_upper_middle()
    {
        // Window 4: changes of the last four evaluations 0.02, 0.005, 0.004, 0.02 → sorted {0.004, 0.005, 0.02, 0.02},
        // Stan's median is element 2 = 0.02 (not the average 0.0125); mean 0.01225: neither fires at tolerance 0.01.
        double[] elbo = [-100, -100 * 1.02, -100 * 1.02 * 1.005, -100 * 1.02 * 1.005 * 1.004, -100 * 1.02 * 1.005 * 1.004 * 1.02];
        // |(prev − now)/now| with now = prev·(1 + r) gives r/(1 + r); build the trace from the ELBOs and check the exact values.
        var trace = Trace([1e3, 1e3, .. elbo.Select(e => -e)]);
        var rule = new RelativeToleranceRule(0.01, 4);
        RelativeToleranceCheck check = rule.Check(trace);
        double[] changes = [0.02 / 1.02, 0.005 / 1.005, 0.004 / 1.004, 0.02 / 1.02];
        Assert.Equal(changes.Average(), check.MeanChange, 12);
        Assert.Equal(changes.Order().ElementAt(2), check.MedianChange, 12);
        Assert.Equal(RelativeToleranceCriterion.None, check.Criterion);
        // With the tolerance just above the mean, the mean fires and the median does not.
        Assert.Equal(RelativeToleranceCriterion.Mean, new RelativeToleranceRule(check.MeanChange * 1.001, 4).Check(trace).Criterion);
    }

    [Fact]
    public void A_known_log_normaliser_turns_true_KL_values_into_the_ELBO()
    {
        // KL values 1 and 0.5 with log Z = −50: ELBOs −51 and −50.5.
        var rule = new RelativeToleranceRule(0.01, 10, logNormalizer: -50);
        RelativeToleranceCheck check = rule.Check(Trace(9, 1, 0.5));
        Assert.Equal(-50.5, check.Elbo);
        Assert.Equal(0.5 / 50.5, check.Change, 12);
    }

    [Fact]
    public void Large_changes_after_ten_evaluations_raise_Stans_divergence_warning()
    {
        double[] kl = [.. Enumerable.Range(0, 13).Select(i => Math.Pow(3, i))];
        var rule = new RelativeToleranceRule(0.01, 10);
        Assert.True(rule.Check(Trace(kl)).MayBeDiverging);
        Assert.False(rule.Check(Trace(kl[..10])).MayBeDiverging); // nine evaluations
        Assert.False(rule.Check(Trace([.. Enumerable.Repeat(5.0, 13)])).MayBeDiverging);
    }

    [Theory]
    [InlineData(0.0, 10)]
    [InlineData(double.NaN, 10)]
    [InlineData(0.01, 0)]
    public void Bad_settings_are_refused(double tolerance, int window) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new RelativeToleranceRule(tolerance, window));
}
