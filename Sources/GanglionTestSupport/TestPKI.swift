/// A throwaway CA with a server certificate for 127.0.0.1, and an unrelated second CA.
public struct TestPKI: Sendable {
  public let directory: TemporaryDirectory
  public var caFile: String { directory.path("ca.pem") }
  public var otherCAFile: String { directory.path("other-ca.pem") }
  public var serverCertFile: String { directory.path("server.pem") }
  public var serverKeyFile: String { directory.path("server.key") }

  /// Makes the keys and certificates with `openssl` (Debian's `openssl` package).
  public static func make() async throws -> TestPKI {
    let pki = TestPKI(directory: try TemporaryDirectory(prefix: "ganglion-pki"))
    let d = pki.directory
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for (name, subject) in [("ca", "/CN=ganglion-test-ca"), ("other-ca", "/CN=other-ca")] {
      try await ChildProcess.run(
        "openssl",
        ["req", "-x509"] + ec + [
          "-keyout", d.path("\(name).key"), "-out", d.path("\(name).pem"), "-days", "2", "-subj", subject,
        ])
    }
    try await ChildProcess.run(
      "openssl", ["req"] + ec + ["-keyout", pki.serverKeyFile, "-out", d.path("server.csr"), "-subj", "/CN=127.0.0.1"])
    let extensions = try d.write("subjectAltName=IP:127.0.0.1\n", to: "server.ext")
    try await ChildProcess.run(
      "openssl",
      [
        "x509", "-req", "-in", d.path("server.csr"), "-CA", pki.caFile, "-CAkey", d.path("ca.key"),
        "-CAcreateserial", "-out", pki.serverCertFile, "-days", "2", "-extfile", extensions,
      ])
    return pki
  }
}
