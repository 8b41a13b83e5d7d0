using Portcullis.Faults;

// scripts/faults.sh [--short | --only=TEXT]: starts servers of its own and runs this. Alone it refuses to run on the shared
// servers (the default ports), since it kills them.
var pgPort = Environment.GetEnvironmentVariable("PORTCULLIS_PG_PORT");
var amqpPort = Environment.GetEnvironmentVariable("PORTCULLIS_AMQP_PORT");
if (pgPort is null or "24432" || amqpPort is null or "24672")
{
    Console.Error.WriteLine("The fault suite kills PostgreSQL and RabbitMQ: run it through scripts/faults.sh, which starts servers of its own.");
    return 2;
}
var faults = args.Contains("--short") ? Fault.Short : Fault.Full;
// --only=TEXT: the faults whose name contains TEXT (e.g. --only=RabbitMQ), to repeat one fault on its own.
if (args.FirstOrDefault(a => a.StartsWith("--only=", StringComparison.Ordinal)) is { } only)
{
    faults = [.. Fault.Full.Where(f => f.Name.Contains(only["--only=".Length..], StringComparison.OrdinalIgnoreCase))];
    if (faults.Length == 0)
    {
        Console.Error.WriteLine($"No fault's name contains '{only["--only=".Length..]}': {string.Join(", ", Fault.Full.Select(f => f.Name))}.");
        return 2;
    }
}
return await FaultSuite.RunAsync(faults) ? 0 : 1;
