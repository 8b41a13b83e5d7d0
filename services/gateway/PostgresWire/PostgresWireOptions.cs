namespace Portcullis.Gateway.PostgresWire;

/// <summary>The PostgreSQL wire listener's settings (section "PostgresWire"); without a port there is no listener.</summary>
public sealed class PostgresWireOptions
{
    /// <summary>The port agents' drivers connect to (for example 6432); null or 0: no listener.</summary>
    public int? Port { get; set; }

    /// <summary>The address to listen on: an IP address, "localhost", or "*" for every interface.</summary>
    public string ListenAddress { get; set; } = "localhost";

    /// <summary>The TLS certificate (PEM) offered to an SSLRequest, and its private key (PEM).</summary>
    public string? CertificatePath { get; set; }
    public string? CertificateKeyPath { get; set; }

    /// <summary>
    /// Whether a client on loopback may send its password (an access token) without TLS. For local development only:
    /// anywhere else the password is taken only over TLS.
    /// </summary>
    public bool AllowLoopbackPlaintext { get; set; }

    /// <summary>Largest protocol message accepted (a statement with its parameters); a larger one closes the connection.</summary>
    public int MaxMessageBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>The server_version reported at startup (drivers read it to choose features).</summary>
    public string ServerVersion { get; set; } = "16.0";

    /// <summary>
    /// How long a client may leave a transaction open without sending anything: past it the transaction is rolled back
    /// and the connection closed (FATAL 25P03), so an agent cannot hold the database's locks forever.
    /// </summary>
    public TimeSpan IdleInTransactionTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a transaction may stay open in all, however busy its client keeps it (the idle limit alone lets a client
    /// that sends a statement now and then hold its locks forever): past it the transaction is rolled back and the
    /// connection closed (FATAL 25P04, as PostgreSQL 17's transaction_timeout).
    /// </summary>
    public TimeSpan MaxTransactionDuration { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How many transactions may be open at once through the listener on one connection (each holds a connection of its
    /// pool, 100 by default, until it ends): a BEGIN past it is refused with 53300, so open transactions cannot take the
    /// whole pool from the statements that run on their own.
    /// </summary>
    public int MaxOpenTransactions { get; set; } = 32;

    /// <summary>
    /// How many transactions one identity (the token's issuer and subject) may hold open at once on one upstream database,
    /// counted across every gateway instance (by advisory locks the pinned connections hold on that database): a BEGIN
    /// past it is refused with 53300, as PostgreSQL refuses a role past its connection limit, so one agent cannot take
    /// every open transaction from the others.
    /// </summary>
    public int MaxOpenTransactionsPerIdentity { get; set; } = 8;

    /// <summary>How long a client has to finish startup and authentication.</summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
