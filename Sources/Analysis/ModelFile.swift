import Foundation
import RetrieveCore
public import SequenceEncoding

/// Where the encoder comes from and how it is loaded: the one path every `--model` goes through.
///
/// Order: an explicit path (`--model`), then `$RETRIEVE_MODEL`, then the shipped `Index/default-model.safetensors`
/// of the project this executable was built from. Loading validates the whole file (header, every configuration
/// field against `EncoderConfiguration.Bounds`, every tensor), and every failure is one sentence that names the
/// file, where its path came from when that matters, and the remedy.
public enum ModelFile {
    /// The shipped model's file name inside `Index/`.
    public static let defaultFileName = "default-model.safetensors"
    /// The environment variable naming a model when `--model` is not given.
    public static let environmentVariable = "RETRIEVE_MODEL"

    /// Who named the model file.
    public enum Source: Sendable, Equatable {
        /// A command-line option or a caller's own path.
        case option
        /// `$RETRIEVE_MODEL`.
        case environment
        /// Nobody: the shipped default.
        case shipped
    }

    /// A resolved model path and who named it.
    public struct Location: Sendable, Equatable {
        public let path: String
        public let source: Source
        public init(path: String, source: Source) {
            self.path = path
            self.source = source
        }
    }

    /// The `Index/` folder of the project this executable was built from, or `./Index`: looked for beside the
    /// executable's build folder (so a built checkout works from any working directory), then the working directory.
    public static var shippedFolder: String {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = folder.appendingPathComponent("Index")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent(defaultFileName).path) {
                return candidate.path
            }
            folder = folder.deletingLastPathComponent()
        }
        return Paths.absolute("Index")
    }

    /// Resolves the model path: `option`, else `$RETRIEVE_MODEL` (when set and not empty), else the shipped model.
    public static func locate(
        option: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Location {
        if let option { return Location(path: Paths.absolute(option), source: .option) }
        if let value = environment[environmentVariable], !value.isEmpty {
            return Location(path: Paths.absolute(value), source: .environment)
        }
        return Location(path: shippedFolder + "/" + defaultFileName, source: .shipped)
    }

    /// Resolves (`locate`), loads and validates the model. `alternative` is appended to the remedy when the file
    /// is missing (e.g. "or --baselines-only to score the baselines alone").
    public static func load(option: String?, alternative: String? = nil) throws(ModelLoadError) -> Encoder {
        try load(locate(option: option), alternative: alternative)
    }

    /// Loads and validates the model at `location`; every failure is a `ModelLoadError`, one sentence.
    public static func load(_ location: Location, alternative: String? = nil) throws(ModelLoadError) -> Encoder {
        let path = location.path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw .missing(path: path, source: location.source, alternative: alternative)
        }
        if isFolder.boolValue { throw .folder(path: path) }
        guard FileManager.default.isReadableFile(atPath: path) else { throw .notReadable(path: path) }
        do { return try Encoder.load(contentsOf: URL(fileURLWithPath: path)) } catch { throw .damaged(error) }
    }

    /// Loads and validates the model file at `path` (a path the caller already chose, e.g. a fold model).
    public static func load(path: String) throws(ModelLoadError) -> Encoder {
        try load(Location(path: Paths.absolute(path), source: .option))
    }
}

/// Why a model could not be loaded: one sentence naming the file and the remedy.
public enum ModelLoadError: Error, CustomStringConvertible, Equatable {
    /// No file at the resolved path.
    case missing(path: String, source: ModelFile.Source, alternative: String?)
    /// The path is a folder.
    case folder(path: String)
    /// The file exists but this user may not read it.
    case notReadable(path: String)
    /// The file is not a usable model (damaged, foreign, a field out of bounds, a tensor missing …).
    case damaged(ModelFileError)

    public var description: String {
        switch self {
        case .missing(let path, let source, let alternative):
            let remedy =
                switch source {
                case .option: "check the path, or train one with `retrieve train`"
                case .environment: "fix or unset $\(ModelFile.environmentVariable), or pass --model PATH"
                case .shipped:
                    "pass --model PATH or set $\(ModelFile.environmentVariable), or restore the shipped model "
                        + "(`git checkout Index/`)"
                }
            let named =
                switch source {
                case .option: ""
                case .environment: " (named by $\(ModelFile.environmentVariable))"
                case .shipped: " (the shipped default model)"
                }
            return "no model at \(path)\(named); \(remedy)" + (alternative.map { "; \($0)" } ?? "")
        case .folder(let path):
            return "\(path) is a folder, not a model file; pass the .safetensors file with --model"
        case .notReadable(let path):
            return "\(path): the model file is not readable by this user; change its permissions or copy it"
        case .damaged(let error):
            return error.description
        }
    }
}
