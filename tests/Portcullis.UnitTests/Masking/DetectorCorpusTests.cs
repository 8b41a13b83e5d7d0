using System.Text;
using Portcullis.Defaults.Configuration;
using Portcullis.Masking;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;
using Portcullis.Masking.Rules;
using Xunit.Abstractions;

namespace Portcullis.UnitTests.Masking;

/// <summary>Recall and precision of every detector over the labelled corpus, printed per entity.</summary>
public class DetectorCorpusTests(ITestOutputHelper output)
{
    [Fact]
    public void Every_detector_reaches_recall_099_and_precision_098_over_the_corpus()
    {
        var masker = MaskingPolicy.From(new MaskingConfig(), hashKey: null).Detectors;
        var corpus = MaskingCorpus.All();
        var (tp, fp, fn) = (new Dictionary<string, int>(), new Dictionary<string, int>(), new Dictionary<string, int>());
        var misses = new List<string>();
        foreach (var sample in corpus)
        {
            var found = masker.Find(sample.Text).Select(f => (f.Entity, f.Start, f.Length)).ToHashSet();
            foreach (var expected in sample.Expected)
            {
                if (found.Remove(expected)) tp[expected.Entity] = tp.GetValueOrDefault(expected.Entity) + 1;
                else { fn[expected.Entity] = fn.GetValueOrDefault(expected.Entity) + 1; misses.Add($"missed {expected.Entity} in: {sample.Text}"); }
            }
            foreach (var extra in found)
            {
                fp[extra.Entity] = fp.GetValueOrDefault(extra.Entity) + 1;
                misses.Add($"false {extra.Entity} '{sample.Text.Substring(extra.Start, extra.Length)}' in: {sample.Text}");
            }
        }

        // JSON documents through the content masker: names that say what a value is, numbers; counted by entity.
        var jsonMasker = new ContentMasker(MaskingPolicy.From(new MaskingConfig(), hashKey: null));
        var jsonCases = MaskingCorpus.JsonCases().ToList();
        foreach (var (json, expected, entities) in jsonCases)
        {
            var tally = new MaskingTally();
            var masked = Encoding.UTF8.GetString(jsonMasker.Mask("demo", "application/json", Encoding.UTF8.GetBytes(json), tally));
            foreach (var entity in entities.Union(tally.Counts.Keys))
            {
                var (want, got) = (entities.Count(e => e == entity), tally.Counts.GetValueOrDefault(entity));
                tp[entity] = tp.GetValueOrDefault(entity) + Math.Min(want, got);
                if (want > got) fn[entity] = fn.GetValueOrDefault(entity) + want - got;
                if (got > want) fp[entity] = fp.GetValueOrDefault(entity) + got - want;
            }
            if (masked != expected) misses.Add($"json: {masked} expected {expected}");
        }

        output.WriteLine($"{corpus.Count} texts and {jsonCases.Count} JSON documents; {"entity",-28} {"found",6} {"missed",6} {"false",6} {"recall",7} {"precision",9}");
        var failing = new List<string>();
        foreach (var entity in tp.Keys.Union(fn.Keys).Union(fp.Keys).Order())
        {
            var (t, f, n) = (tp.GetValueOrDefault(entity), fp.GetValueOrDefault(entity), fn.GetValueOrDefault(entity));
            var recall = t + n == 0 ? 1 : (double)t / (t + n);
            var precision = t + f == 0 ? 1 : (double)t / (t + f);
            output.WriteLine($"{entity,-40} {t,6} {n,6} {f,6} {recall,7:0.000} {precision,9:0.000}");
            if (recall < 0.99 || precision < 0.98) failing.Add($"{entity}: recall {recall:0.000}, precision {precision:0.000}");
        }
        foreach (var miss in misses.Take(60)) output.WriteLine(miss);
        var jsonMismatches = misses.Where(m => m.StartsWith("json:", StringComparison.Ordinal)).ToList();
        Assert.True(failing.Count == 0 && jsonMismatches.Count == 0, string.Join("\n", failing.Concat(jsonMismatches).Concat(misses.Take(40))));
        Assert.True(tp.Count >= 21, $"every entity is in the corpus ({tp.Count})");
        Assert.True(corpus.Count + jsonCases.Count >= 1037 + 200, $"the corpus holds {corpus.Count} texts and {jsonCases.Count} documents");
    }
}
