using BenchmarkDotNet.Attributes;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;

namespace Portcullis.Benchmarks;

/// <summary>SQL analysis with PostgreSQL's parser and the walk over its tree, and command-line analysis.</summary>
[MemoryDiagnoser]
[ShortRunJob]
public class AnalysisBenchmarks
{
    private readonly SqlStatementAnalyzer _sql = new();
    private readonly ShellCommandAnalyzer _shell = new();

    [Params("simple", "join+cte", "multi")]
    public string Statement { get; set; } = "simple";

    private string Sql => Statement switch
    {
        "simple" => "SELECT id, name, email FROM customers WHERE id = $1",
        "join+cte" => "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '7 days') " +
                      "SELECT c.name, count(*), sum(r.total) FROM customers c JOIN recent r ON r.customer_id = c.id " +
                      "WHERE c.country = 'NL' GROUP BY c.name HAVING sum(r.total) > 100 ORDER BY 3 DESC LIMIT 20",
        _ => "BEGIN; UPDATE orders SET status = 'shipped' WHERE id = 7; INSERT INTO audit_notes (note) VALUES ('x'); COMMIT",
    };

    private string Command => Statement switch
    {
        "simple" => "ls -la /var/log",
        "join+cte" => "tail -n 200 /var/log/nginx/access.log | cut -d' ' -f1 | sort | uniq -c | sort -rn | head",
        _ => "cd /srv && timeout 5 sh -c 'grep -r \"error\" logs/ | wc -l' && df -h",
    };

    /// <summary>The parser alone (parse and free), the floor under any analysis of the same statement.</summary>
    [Benchmark(Baseline = true)]
    public void Sql_parser_only() => PgQueryNative.Free(PgQueryNative.Parse(Sql));

    [Benchmark]
    public SqlAnalysis Sql_analysis() => _sql.Analyze(Sql);

    [Benchmark]
    public ShellAnalysis Shell_analysis() => _shell.Analyze(Command);
}
