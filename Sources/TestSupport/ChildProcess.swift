public import Foundation
@_exported public import RetrieveCore
#if canImport(Glibc)
    import Glibc
#endif

/// The `retrieve` executable SwiftPM built beside this test bundle.
public enum RetrieveBinary {
    /// `swift test` builds every product into the same directory as the test bundle (`.build/<triple>/debug`);
    /// `/proc/self/exe` is that bundle. The `#filePath` fallback covers runners that copy the bundle elsewhere.
    public static let url: URL? = {
        var candidates: [URL] = []
        if let exe = OwnExecutable.url {
            candidates.append(exe.deletingLastPathComponent().appendingPathComponent("retrieve"))
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("retrieve"))
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("retrieve"))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/retrieve"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    public static func require() throws -> URL {
        guard let url else {
            throw ChildProcessError("the `retrieve` executable is not beside the test bundle; run `swift build` first")
        }
        return url
    }
}
