import Foundation
import RetrieveCore
import Analysis

/// Where the index database and the shipped default model are found when the user names neither.
///
/// Order: an explicit option, then the environment (`RETRIEVE_DB`, `RETRIEVE_MODEL`), then the project's
/// `Index/` folder. That folder is looked for beside the executable's build folder (so a built checkout works
/// from any working directory) and then in the working directory.
public enum DefaultLocations {
    public static let modelFileName = ModelFile.defaultFileName
    public static let databaseFileName = "library.sqlite"

    /// The `Index/` folder of the project this executable was built from, or `./Index` (see `ModelFile`).
    public static var indexFolder: String { ModelFile.shippedFolder }

    public static func databasePath(option: String?) -> String {
        if let option { return Paths.absolute(option) }
        if let env = ProcessInfo.processInfo.environment["RETRIEVE_DB"], !env.isEmpty {
            return Paths.absolute(env)
        }
        return indexFolder + "/" + databaseFileName
    }

    /// The model path `--model` (or `$RETRIEVE_MODEL`, or the shipped default) names; `ModelFile.load` loads it.
    public static func modelPath(option: String?) -> String { ModelFile.locate(option: option).path }
}
