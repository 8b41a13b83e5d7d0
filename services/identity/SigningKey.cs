using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;

namespace Portcullis.Identity;

internal static class SigningKey
{
    /// <summary>
    /// Loads the RSA key from a PEM file, creating it (readable by the owner only) when missing, so tokens
    /// stay valid across restarts and tests can check signatures against a key they control.
    /// </summary>
    public static RsaSecurityKey LoadOrCreate(string path, ILogger logger)
    {
        var rsa = RSA.Create();
        if (File.Exists(path))
        {
            rsa.ImportFromPem(File.ReadAllText(path));
        }
        else
        {
            rsa.KeySize = 2048;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, rsa.ExportPkcs8PrivateKeyPem());
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            logger.LogInformation("Created a new signing key at {Path}", path);
        }

        var key = new RsaSecurityKey(rsa);
        // A stable key id, derived from the public key, lets relying parties pick the key from the JWKS.
        key.KeyId = Base64UrlEncoder.Encode(SHA256.HashData(rsa.ExportRSAPublicKey()))[..16];
        return key;
    }
}
