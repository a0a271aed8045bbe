package local.runner.thrift;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import javax.security.sasl.AuthenticationException;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * Thrift logins checked against a file of {@code user:sha256-hex-of-password} lines.
 *
 * <p>The file is named by the system property {@code runner.thrift.auth.file} and read at every
 * login, so a new password works without a restart. The runner writes it 0600; the passwords
 * themselves are long random tokens, so a plain SHA-256 is enough to keep them out of the file.
 */
public final class PasswordFileAuthenticator implements PasswdAuthenticationProvider {
  static final String FILE_PROPERTY = "runner.thrift.auth.file";

  @Override
  public void Authenticate(String user, String password) throws AuthenticationException {
    String file = System.getProperty(FILE_PROPERTY);
    if (file == null || user == null || password == null) {
      throw new AuthenticationException("login refused");
    }
    byte[] given = sha256(password);
    try {
      for (String line : Files.readAllLines(Paths.get(file), StandardCharsets.UTF_8)) {
        int colon = line.indexOf(':');
        if (colon > 0 && line.substring(0, colon).equals(user)) {
          byte[] stored = HexFormat.of().parseHex(line.substring(colon + 1).trim());
          if (MessageDigest.isEqual(stored, given)) {
            return;
          }
        }
      }
    } catch (IOException | IllegalArgumentException e) {
      throw new AuthenticationException("login refused: cannot read the password file", e);
    }
    throw new AuthenticationException("login refused for user " + user);
  }

  static byte[] sha256(String text) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
