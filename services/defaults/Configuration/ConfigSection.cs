using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Portcullis.Defaults.Configuration;

/// <summary>
/// A section of portcullis.yaml kept as it was parsed, for the service that owns it to read into its own model.
/// What it holds keeps its place in the file, so an error in it names the line and column, as an error
/// anywhere else in the file does. An absent section reads as the model's defaults.
/// </summary>
public sealed class ConfigSection : IYamlConvertible
{
    private List<ParsingEvent> _events = [];

    internal bool IsEmpty => _events.Count == 0;

    /// <summary>The file the section was read from, for error messages.</summary>
    public string Source { get; internal set; } = "portcullis.yaml";

    /// <summary>The section in its owner's model, every key checked: a misspelt one is an error, never ignored.</summary>
    public T Read<T>() where T : class, new() => PortcullisConfigLoader.ReadSection<T>(this, every: true);

    /// <summary>
    /// Only the keys <typeparamref name="T"/> names, the rest left to the section's owner (which checks them all):
    /// for a service that needs a part of another's section.
    /// </summary>
    public T ReadPart<T>() where T : class, new() => PortcullisConfigLoader.ReadSection<T>(this, every: false);

    /// <summary>The section's events as a document of its own, for a deserializer.</summary>
    internal IParser Replay() => new EventReplay([
        new StreamStart(), new DocumentStart(), .. _events, new DocumentEnd(true), new StreamEnd()]);

    void IYamlConvertible.Read(IParser parser, Type expectedType, ObjectDeserializer nestedObjectDeserializer)
    {
        var events = new List<ParsingEvent>();
        var depth = 0;
        do
        {
            var next = parser.Consume<ParsingEvent>();
            events.Add(next);
            depth += next.NestingIncrease;
        } while (depth > 0);
        _events = events;
    }

    void IYamlConvertible.Write(IEmitter emitter, ObjectSerializer nestedObjectSerializer)
    {
        // Qualified: Scalar.AspNetCore (the OpenAPI reference page) brings a root namespace called Scalar.
        if (_events.Count == 0) emitter.Emit(new YamlDotNet.Core.Events.Scalar(""));
        foreach (var parsed in _events) emitter.Emit(parsed);
    }

    private sealed class EventReplay(IReadOnlyList<ParsingEvent> events) : IParser
    {
        private int _next;

        public ParsingEvent? Current { get; private set; }

        public bool MoveNext()
        {
            Current = _next < events.Count ? events[_next++] : null;
            return Current is not null;
        }
    }
}
