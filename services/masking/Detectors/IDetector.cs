namespace Portcullis.Masking.Detectors;

/// <summary>Finds one kind of sensitive value in text. <see cref="Entity"/> is its stable name, e.g. EMAIL.</summary>
public interface IDetector
{
    string Entity { get; }

    /// <summary>Replaces every value found with the entity tag, and says how many there were.</summary>
    string Mask(string text, out int count);
}
