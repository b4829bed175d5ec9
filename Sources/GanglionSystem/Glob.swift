import Glibc

/// Shell-style patterns: `*` (any run of characters), `?` (one character), `[...]`.
public enum Glob {
  /// Whether `text` matches `pattern`. The corresponding C function is `fnmatch`.
  public static func matches(_ pattern: String, _ text: String) -> Bool {
    fnmatch(pattern, text, 0) == 0
  }
}
