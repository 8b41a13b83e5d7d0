using Portcullis.Faults;

// scripts/faults.sh [--short]: starts servers of its own and runs this. Alone it refuses to run on the shared
// servers (the default ports), since it kills them.
var pgPort = Environment.GetEnvironmentVariable("PORTCULLIS_PG_PORT");
var amqpPort = Environment.GetEnvironmentVariable("PORTCULLIS_AMQP_PORT");
if (pgPort is null or "55432" || amqpPort is null or "55672")
{
    Console.Error.WriteLine("The fault suite kills PostgreSQL and RabbitMQ: run it through scripts/faults.sh, which starts servers of its own.");
    return 2;
}
var faults = args.Contains("--short") ? Fault.Short : Fault.Full;
return await FaultSuite.RunAsync(faults) ? 0 : 1;
