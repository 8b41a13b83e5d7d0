using System.Reflection;
using System.Runtime.InteropServices;

namespace Portcullis.Policy.Analysis.Sql;

/// <summary>
/// libpg_query, the PostgreSQL server's own parser as a C library (Debian: libpg-query1504.0). Debian ships
/// only the versioned soname, so the resolver tries it before the plain names.
/// </summary>
internal static partial class PgQueryNative
{
    private const string Library = "pg_query";
    private static readonly string[] Candidates = ["libpg_query.so.1504.0", "libpg_query.so", "libpg_query.dylib", "pg_query"];

    static PgQueryNative()
    {
        NativeLibrary.SetDllImportResolver(typeof(PgQueryNative).Assembly, Resolve);
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library) return IntPtr.Zero;
        foreach (var candidate in Candidates)
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle))
                return handle;
        throw new DllNotFoundException(
            "libpg_query (the PostgreSQL parser library) is not installed: run 'apt-get install libpg-query1504.0' " +
            "(scripts/servers.sh install does it). Without it no SQL can be analysed, so none is allowed.");
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ParseResult
    {
        public IntPtr ParseTree;
        public IntPtr StderrBuffer;
        public IntPtr Error;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Error
    {
        public IntPtr Message;
        public IntPtr FunctionName;
        public IntPtr FileName;
        public int LineNumber;
        public int CursorPosition;
        public IntPtr Context;
    }

    [LibraryImport(Library, EntryPoint = "pg_query_parse", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial ParseResult Parse(string input);

    [LibraryImport(Library, EntryPoint = "pg_query_free_parse_result")]
    internal static partial void Free(ParseResult result);
}
