using System.Collections.Immutable;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Portcullis.UnitTests.Architecture;

/// <summary>
/// Which namespaces of one assembly use which others, read from its metadata: base types, interfaces, generic
/// arguments and constraints, fields, properties, events, method signatures, attributes, and what method bodies
/// reference (locals, calls, field accesses, type tokens, catch clauses). Nested and compiler-generated types
/// (closures, state machines, records' members) count for the namespace of the type that declares them.
/// Types in the global namespace (Program, anonymous types) are left out.
/// </summary>
public sealed class NamespaceGraph
{
    /// <summary>Each namespace and the namespaces it uses (never itself).</summary>
    public Dictionary<string, HashSet<string>> Uses { get; } = new(StringComparer.Ordinal);

    /// <summary>One type-to-type dependency behind each edge, so a failure says where to look.</summary>
    public Dictionary<(string From, string To), string> Evidence { get; } = new();

    public void Add(string from, string to, string evidence)
    {
        if (!Uses.TryGetValue(from, out var targets)) Uses[from] = targets = new(StringComparer.Ordinal);
        if (to.Length == 0 || from == to) return;
        if (targets.Add(to)) Evidence[(from, to)] = evidence;
    }

    public static NamespaceGraph Of(string assemblyPath)
    {
        using var pe = new PEReader(File.OpenRead(assemblyPath));
        var metadata = pe.GetMetadataReader();
        var graph = new NamespaceGraph();
        foreach (var handle in metadata.TypeDefinitions)
        {
            var from = NamespaceOf(metadata, handle);
            if (from.Length == 0) continue;
            var used = new HashSet<TypeDefinitionHandle>();
            new TypeWalker(metadata, pe, used).Walk(handle);
            foreach (var target in used)
                graph.Add(from, NamespaceOf(metadata, target), $"{NameOf(metadata, handle)} uses {NameOf(metadata, target)}");
        }
        return graph;
    }

    /// <summary>The namespaces that use each other in a loop, one list per loop (Tarjan's strongly connected components).</summary>
    public IReadOnlyList<IReadOnlyList<string>> Cycles()
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var cycles = new List<IReadOnlyList<string>>();
        void Visit(string node)
        {
            index[node] = low[node] = index.Count;
            stack.Push(node);
            onStack.Add(node);
            foreach (var next in Uses.GetValueOrDefault(node) ?? [])
            {
                if (!index.ContainsKey(next))
                {
                    Visit(next);
                    low[node] = Math.Min(low[node], low[next]);
                }
                else if (onStack.Contains(next)) low[node] = Math.Min(low[node], index[next]);
            }
            if (low[node] != index[node]) return;
            var component = new List<string>();
            string member;
            do
            {
                member = stack.Pop();
                onStack.Remove(member);
                component.Add(member);
            } while (member != node);
            if (component.Count > 1) cycles.Add([.. component.Order(StringComparer.Ordinal)]);
        }
        foreach (var node in Uses.Keys.Order(StringComparer.Ordinal).ToArray())
            if (!index.ContainsKey(node)) Visit(node);
        return cycles;
    }

    /// <summary>A cycle as a reader can follow it: each edge inside it with the dependency that makes it.</summary>
    public string Describe(IReadOnlyList<string> cycle) =>
        string.Join("\n", Evidence.Where(e => cycle.Contains(e.Key.From) && cycle.Contains(e.Key.To))
            .OrderBy(e => e.Key.From, StringComparer.Ordinal).ThenBy(e => e.Key.To, StringComparer.Ordinal)
            .Select(e => $"  {e.Key.From} -> {e.Key.To} ({e.Value})"));

    private static string NamespaceOf(MetadataReader metadata, TypeDefinitionHandle handle)
    {
        var type = metadata.GetTypeDefinition(handle);
        while (type.GetDeclaringType() is { IsNil: false } declaring) type = metadata.GetTypeDefinition(declaring);
        return metadata.GetString(type.Namespace);
    }

    private static string NameOf(MetadataReader metadata, TypeDefinitionHandle handle)
    {
        var type = metadata.GetTypeDefinition(handle);
        var name = metadata.GetString(type.Name);
        return type.GetDeclaringType() is { IsNil: false } declaring ? NameOf(metadata, declaring) + "+" + name : name;
    }

    /// <summary>Collects every type of this assembly that one type's metadata and IL reference.</summary>
    private sealed class TypeWalker(MetadataReader metadata, PEReader pe, HashSet<TypeDefinitionHandle> used)
        : ISignatureTypeProvider<int, object?>
    {
        private static readonly OpCode[] OneByte = new OpCode[0x100];
        private static readonly OpCode[] TwoByte = new OpCode[0x100];

        static TypeWalker()
        {
            foreach (var field in typeof(OpCodes).GetFields())
            {
                if (field.GetValue(null) is not OpCode code) continue;
                var value = (ushort)code.Value;
                if (value < 0x100) OneByte[value] = code;
                else if ((value & 0xFF00) == 0xFE00) TwoByte[value & 0xFF] = code;
            }
        }

        public void Walk(TypeDefinitionHandle handle)
        {
            var type = metadata.GetTypeDefinition(handle);
            Entity(type.BaseType);
            foreach (var implementation in type.GetInterfaceImplementations())
                Entity(metadata.GetInterfaceImplementation(implementation).Interface);
            GenericParameters(type.GetGenericParameters());
            Attributes(type.GetCustomAttributes());
            foreach (var fieldHandle in type.GetFields())
            {
                var field = metadata.GetFieldDefinition(fieldHandle);
                field.DecodeSignature(this, null);
                Attributes(field.GetCustomAttributes());
            }
            foreach (var propertyHandle in type.GetProperties())
            {
                var property = metadata.GetPropertyDefinition(propertyHandle);
                property.DecodeSignature(this, null);
                Attributes(property.GetCustomAttributes());
            }
            foreach (var eventHandle in type.GetEvents())
                Entity(metadata.GetEventDefinition(eventHandle).Type);
            foreach (var methodHandle in type.GetMethods())
            {
                var method = metadata.GetMethodDefinition(methodHandle);
                method.DecodeSignature(this, null);
                GenericParameters(method.GetGenericParameters());
                Attributes(method.GetCustomAttributes());
                if (method.RelativeVirtualAddress != 0) Body(pe.GetMethodBody(method.RelativeVirtualAddress));
            }
        }

        private void Body(MethodBodyBlock body)
        {
            if (!body.LocalSignature.IsNil)
                metadata.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(this, null);
            foreach (var region in body.ExceptionRegions) Entity(region.CatchType);
            var il = body.GetILReader();
            while (il.RemainingBytes > 0)
            {
                int value = il.ReadByte();
                var code = value == 0xFE ? TwoByte[il.ReadByte()] : OneByte[value];
                switch (code.OperandType)
                {
                    case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                        Entity(MetadataTokens.EntityHandle(il.ReadInt32()));
                        break;
                    case OperandType.InlineSig:
                        var signature = metadata.GetStandaloneSignature((StandaloneSignatureHandle)MetadataTokens.EntityHandle(il.ReadInt32()));
                        if (signature.GetKind() == StandaloneSignatureKind.Method) signature.DecodeMethodSignature(this, null);
                        break;
                    case OperandType.InlineSwitch:
                        // The count first, then the targets: read apart, since "Offset += 4 * ReadInt32()" reads Offset
                        // before the count moves it, and lands inside the targets.
                        var targets = il.ReadInt32();
                        il.Offset += 4 * targets;
                        break;
                    case OperandType.InlineNone:
                        break;
                    case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                        il.Offset += 1;
                        break;
                    case OperandType.InlineVar:
                        il.Offset += 2;
                        break;
                    case OperandType.InlineI8 or OperandType.InlineR:
                        il.Offset += 8;
                        break;
                    default: // InlineBrTarget, InlineI, InlineString, ShortInlineR
                        il.Offset += 4;
                        break;
                }
            }
        }

        private void Entity(EntityHandle handle)
        {
            if (handle.IsNil) return;
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition:
                    used.Add((TypeDefinitionHandle)handle);
                    break;
                case HandleKind.TypeSpecification:
                    metadata.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null);
                    break;
                case HandleKind.MethodDefinition:
                    used.Add(metadata.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.FieldDefinition:
                    used.Add(metadata.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.MemberReference:
                    var member = metadata.GetMemberReference((MemberReferenceHandle)handle);
                    Entity(member.Parent);
                    if (member.GetKind() == MemberReferenceKind.Method) member.DecodeMethodSignature(this, null);
                    else member.DecodeFieldSignature(this, null);
                    break;
                case HandleKind.MethodSpecification:
                    var specification = metadata.GetMethodSpecification((MethodSpecificationHandle)handle);
                    Entity(specification.Method);
                    specification.DecodeSignature(this, null);
                    break;
            }
        }

        private void GenericParameters(GenericParameterHandleCollection parameters)
        {
            foreach (var parameter in parameters)
                foreach (var constraint in metadata.GetGenericParameter(parameter).GetConstraints())
                    Entity(metadata.GetGenericParameterConstraint(constraint).Type);
        }

        private void Attributes(CustomAttributeHandleCollection attributes)
        {
            foreach (var attribute in attributes) Entity(metadata.GetCustomAttribute(attribute).Constructor);
        }

        public int GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            used.Add(handle);
            return 0;
        }

        public int GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind)
        {
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
            return 0;
        }

        public int GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => 0;
        public int GetPrimitiveType(PrimitiveTypeCode typeCode) => 0;
        public int GetGenericInstantiation(int genericType, ImmutableArray<int> typeArguments) => 0;
        public int GetArrayType(int elementType, ArrayShape shape) => 0;
        public int GetByReferenceType(int elementType) => 0;
        public int GetSZArrayType(int elementType) => 0;
        public int GetPointerType(int elementType) => 0;
        public int GetFunctionPointerType(MethodSignature<int> signature) => 0;
        public int GetGenericMethodParameter(object? genericContext, int index) => 0;
        public int GetGenericTypeParameter(object? genericContext, int index) => 0;
        public int GetModifiedType(int modifier, int unmodifiedType, bool isRequired) => 0;
        public int GetPinnedType(int elementType) => 0;
    }
}
