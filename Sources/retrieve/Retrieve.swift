import ArgumentParser
import Foundation
import RetrieveCore
import LinearAlgebra

/// The `retrieve` command: argument parsing and output formatting only; the work is in the Library, Training and Evaluation modules.
@main
struct Retrieve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieve",
        abstract: "Music similarity and retrieval: index a collection, then ask for more like this.",
        version: "0.1.0",
        subcommands: [
            IndexCommand.self, SimilarCommand.self, ExportCommand.self, StatsCommand.self, ListCommand.self,
            RemoveCommand.self, Features.self, EmbedCommand.self, TrainCommand.self, EvaluateCommand.self,
            MapCommand.self, ServeCommand.self, MPDCommand.self, MigrateCommand.self,
        ])

    /// Prints our errors as one line, `retrieve: …` (they already name the file and the remedy), and leaves
    /// usage errors, help and exit codes to ArgumentParser.
    static func main() {
        // Before anything runs: may re-run this program with OPENBLAS_CORETYPE set (see BLASCore).
        BLASCore.ensureBestCore()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch where error is ExitCode || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // Help, version and usage errors (parseAsRoot defers help to run()) and our exit statuses.
            exit(withError: error)
        } catch {
            Output.error(String(describing: error))
            Foundation.exit(1)
        }
    }
}
