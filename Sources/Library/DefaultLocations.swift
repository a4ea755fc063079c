import Foundation
import RetrieveCore

/// Where the index database and the shipped default model are found when the user names neither.
///
/// Order: an explicit option, then the environment (`RETRIEVE_DB`, `RETRIEVE_MODEL`), then the project's
/// `Index/` folder. That folder is looked for beside the executable's build folder (so a built checkout works
/// from any working directory) and then in the working directory.
public enum DefaultLocations {
    public static let modelFileName = "default-model.safetensors"
    public static let databaseFileName = "library.sqlite"

    /// The `Index/` folder of the project this executable was built from, or `./Index`.
    public static var indexFolder: String {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = folder.appendingPathComponent("Index")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent(modelFileName).path) {
                return candidate.path
            }
            folder = folder.deletingLastPathComponent()
        }
        return Paths.absolute("Index")
    }

    public static func databasePath(option: String?) -> String {
        if let option { return Paths.absolute(option) }
        if let env = ProcessInfo.processInfo.environment["RETRIEVE_DB"], !env.isEmpty {
            return Paths.absolute(env)
        }
        return indexFolder + "/" + databaseFileName
    }

    public static func modelPath(option: String?) -> String {
        if let option { return Paths.absolute(option) }
        if let env = ProcessInfo.processInfo.environment["RETRIEVE_MODEL"], !env.isEmpty {
            return Paths.absolute(env)
        }
        return indexFolder + "/" + modelFileName
    }
}
