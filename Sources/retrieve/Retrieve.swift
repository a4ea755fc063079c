import ArgumentParser
import Foundation
import RetrieveCore
import LinearAlgebra
import SimilaritySearch

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
            MapCommand.self, ServeCommand.self, MPDCommand.self, MigrateCommand.self, AnalyseUploadCommand.self,
        ])

    /// Prints our errors as one line, `retrieve: …` (they already name the file and the remedy), and leaves
    /// usage errors, help and exit codes to ArgumentParser.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        // Before the command runs: may re-run this program with OPENBLAS_CORETYPE set (see BLASCore), which costs
        // a second process start (≈ 20 ms); commands that make no BLAS call at all skip it.
        if (command as? BLASFreeCommand)?.callsBLAS ?? true { BLASCore.ensureBestCore() }
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

/// A command that may make no BLAS call at all, so that the OpenBLAS core type (`BLASCore`) does not matter to it
/// and `retrieve` need not re-run itself to choose one: reading or editing the index, and queries by track id,
/// which scan with our own kernel (`ScanKernel`). Every other command, and these whenever `callsBLAS` says so,
/// gets the best core before it runs.
protocol BLASFreeCommand {
    /// Whether this invocation may call BLAS after all (e.g. to embed an audio file).
    var callsBLAS: Bool { get }
}

extension StatsCommand: BLASFreeCommand { var callsBLAS: Bool { false } }
extension ListCommand: BLASFreeCommand { var callsBLAS: Bool { false } }
extension RemoveCommand: BLASFreeCommand { var callsBLAS: Bool { false } }
extension MigrateCommand: BLASFreeCommand { var callsBLAS: Bool { false } }

extension SimilarCommand: BLASFreeCommand {
    /// Track ids only: their vectors come from the index. A path may be an audio file to embed, `--identify`
    /// matches segments with GEMMs, and a CPU without AVX2 scans with BLAS's sgemv.
    var callsBLAS: Bool {
        identify || !queries.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
            || !VectorCollection.scansWithoutBLAS
    }
}
