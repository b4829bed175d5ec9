import GanglionCore
import Testing

/// Issue 10 item 9: a file named by mistake (`--config /etc/passwd`, a README) had its text
/// echoed back in the errors, secrets included. What cannot be a key or a short value is not
/// quoted: the error says where and how long it is instead.
@Suite struct ForeignFileTests {
  @Test func unknownKeysThatCannotBeKeysAreNotQuoted() {
    let text = """
      This is a long paragraph of some README file that someone named by mistake: it goes on
      Another line with the password hunter2: yes
      devise: typo
      """
    let (_, diagnostics) = decodeConfig(text)
    let messages = diagnostics.map(\.description)
    #expect(!messages.joined().contains("README"), "\(messages)")
    #expect(!messages.joined().contains("hunter2"), "\(messages)")
    #expect(messages.contains { $0.hasPrefix("ganglion.yaml:1:1: error: unknown key (74 characters,") }, "\(messages)")
    #expect(
      messages.contains { $0.contains("unknown key 'devise' in the config; did you mean 'device'?") }, "\(messages)")
  }

  @Test func aWholeForeignFileIsNotEchoed() {
    let passwd = (0..<20).map { "user\($0):x:\($0):\($0):secret gecos \($0):/home/u\($0):/bin/sh" }.joined(
      separator: "\n")
    let (_, diagnostics) = decodeConfig(passwd, file: "/etc/passwd")
    let messages = diagnostics.map(\.description).joined(separator: "\n")
    #expect(!messages.contains("secret gecos"), "\(messages)")
    #expect(messages.contains("/etc/passwd:1:1: error: the config expects a mapping"), "\(messages)")
    #expect(messages.contains("characters"), "\(messages)")
  }
}
